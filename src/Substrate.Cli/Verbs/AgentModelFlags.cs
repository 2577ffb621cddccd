using System.CommandLine;
using Microsoft.Extensions.AI;
using Substrate.Agents;
using Substrate.Agents.Context;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;

namespace Substrate.Cli.Verbs;

/// <summary>The model flags of <c>agent</c> and <c>agent eval</c>: a model folder run in process (with an optional adapter)
/// or an OpenAI-compatible endpoint; <see cref="Open"/> gives the chat client and, in process, the engine to dispose.</summary>
public sealed class AgentModelFlags
{
    readonly Option<string?> model = new("--model") { Description = "A model folder, run in process." };
    readonly Option<string?> adapter = new("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of --model." };
    readonly Option<string?> endpoint = new("--endpoint") { Description = "An OpenAI-compatible API instead of --model, e.g. http://127.0.0.1:8080/v1." };
    readonly Option<string?> apiKey = new("--api-key") { Description = "The endpoint's key (default from SUBSTRATE_API_KEY)." };
    readonly Option<string?> modelName = new("--model-name") { Description = "The model to ask the endpoint for." };
    readonly ModelOptionFlags runtime = new();

    /// <summary>The context an endpoint is assumed to have when --context does not say.</summary>
    const int EndpointContext = 8192;

    public void AddTo(Command command)
    {
        foreach (var option in new[] { model, adapter, endpoint, apiKey, modelName }) command.Options.Add(option);
        runtime.AddTo(command);
    }

    /// <summary>The chat client, the in-process engine (null for an endpoint) and the model id that picks the adapter.</summary>
    public (IChatClient Chat, InferenceEngine? Engine, string? ModelId) Open(ParseResult parsed)
    {
        if (parsed.GetValue(endpoint) is { } url)
        {
            if (parsed.GetValue(model) is not null) throw new ArgumentException("give --model or --endpoint, not both");
            var name = parsed.GetValue(modelName) ?? throw new ArgumentException("--endpoint needs --model-name");
            var key = parsed.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("SUBSTRATE_API_KEY");
            return (OpenAiCompatible.ChatClient(new Uri(url), key, name), null, null);
        }
        var folder = parsed.GetValue(model) ?? throw new ArgumentException("give --model <dir> or --endpoint <url>");
        var (engine, modelId) = InProcessModel.Load(folder, parsed.GetValue(adapter), runtime.StartInference(parsed, folder));
        return (new SubstrateChatClient(engine), engine, modelId);
    }

    /// <summary><see cref="Open"/>, with what a context budget needs: a token counter (the model's tokenizer in process,
    /// 4 characters a token for an endpoint) and the context (the model's, or <see cref="EndpointContext"/>).</summary>
    public (IChatClient Chat, InferenceEngine? Engine, string? ModelId, Func<string, int> CountTokens, int Context) OpenCounted(ParseResult parsed)
    {
        var (chat, engine, modelId) = Open(parsed);
        return engine is null
            ? (chat, null, modelId, ContextBudgetReducer.EstimateTokens, EndpointContext)
            : (chat, engine, modelId, text => engine.Tokenizer.Encode(text).Length, engine.Context);
    }
}
