using System.Runtime.CompilerServices;
using System.Text;
using Substrate.Inference.Constrained;
using Substrate.Models;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;
using static TorchSharp.torch;

namespace Substrate.Inference.Serving;

/// <summary>
/// A loaded model (and its adapters) behind a <see cref="BatchScheduler"/>: turns <see cref="CompletionRequest"/>s into
/// prompt ids (chat messages through the model's <see cref="ChatFormat"/>, as fine-tuning renders them), picks the adapter from the model id
/// ("base" or "base:adapter"), sets up constrained decoding for JSON output and forced tool calls, and streams text back.
/// </summary>
public sealed class InferenceEngine : IInferenceEngine
{
    private readonly ModelConfig config;
    private readonly ITokenizer tokenizer;
    private readonly IDisposable? owner;
    private readonly BatchScheduler scheduler;
    private readonly ChatFormat chat;
    private readonly IReadOnlyList<string> adapterNames;
    private readonly JsonTokenTable jsonTokens;

    /// <param name="owner">Disposed with the engine (the loaded model).</param>
    /// <param name="chatFormat">Default: the tokenizer config's chat template, else the transcript (<see cref="ChatFormat"/>).</param>
    /// <param name="generationDefaults">The model's decoding settings; default: Hugging Face's.</param>
    public InferenceEngine(LlamaForCausalLM model, ITokenizer tokenizer, TokenizerConfig tokenizerConfig, string baseModel,
        BatchSchedulerOptions? options = null, IAdapterSwitch? adapters = null, IDisposable? owner = null, ChatFormat? chatFormat = null,
        GenerationDefaults? generationDefaults = null)
        : this(new BatchScheduler(model, tokenizer, options, adapters), model.Config, tokenizer, tokenizerConfig, baseModel, adapters?.Names ?? [],
            owner, chatFormat, generationDefaults)
    {
    }

    /// <summary>An engine over any <see cref="IBatchModel"/> (a GGUF file on the CPU decoder: no adapters, no embeddings);
    /// <paramref name="model"/> is disposed with the engine, and <paramref name="owner"/> after it.</summary>
    public InferenceEngine(IBatchModel model, ITokenizer tokenizer, TokenizerConfig tokenizerConfig, string baseModel,
        BatchSchedulerOptions? options = null, IDisposable? owner = null, GenerationDefaults? generationDefaults = null)
        : this(new BatchScheduler(model, tokenizer, options), model.Config, tokenizer, tokenizerConfig, baseModel, [], owner, null, generationDefaults)
    {
    }

    private InferenceEngine(BatchScheduler scheduler, ModelConfig config, ITokenizer tokenizer, TokenizerConfig tokenizerConfig, string baseModel,
        IReadOnlyList<string> adapterNames, IDisposable? owner, ChatFormat? chatFormat, GenerationDefaults? generationDefaults)
    {
        (this.scheduler, this.config, this.tokenizer, this.owner) = (scheduler, config, tokenizer, owner);
        BaseModel = baseModel;
        GenerationDefaults = generationDefaults ?? GenerationDefaults.HuggingFace;
        this.adapterNames = adapterNames;
        Models = [baseModel, .. adapterNames.Select(a => $"{baseModel}:{a}")];
        chat = chatFormat ?? new ChatFormat(tokenizer, tokenizerConfig);
        jsonTokens = new JsonTokenTable(tokenizer, config.VocabSize);
    }

    public InferenceEngine(LoadedModel loaded, string baseModel, BatchSchedulerOptions? options = null)
        : this(loaded.Model, loaded.Tokenizer, loaded.TokenizerConfig, baseModel, options, null, loaded,
            generationDefaults: GenerationDefaults.Load(loaded.Directory)) { }

    public InferenceEngine(MultiAdapterModel multi, string baseModel, BatchSchedulerOptions? options = null)
        : this(multi.Model, multi.Tokenizer, multi.TokenizerConfig, baseModel, options, new MultiAdapterSwitch(multi), multi,
            generationDefaults: GenerationDefaults.Load(multi.Directory)) { }

    /// <summary>Opens a model folder and, when given, LoRA adapter folders by name (the base is loaded once).</summary>
    public static InferenceEngine Load(string directory, string baseModel, ModelOptions? modelOptions = null,
        IReadOnlyList<(string Name, string Directory)>? adapters = null, BatchSchedulerOptions? options = null)
    {
        if (adapters is not { Count: > 0 }) return new InferenceEngine(LoadedModel.Load(directory, modelOptions), baseModel, options);
        var multi = MultiAdapterModel.Load(directory, modelOptions);
        try
        {
            foreach (var (name, dir) in adapters)
            {
                if (name.Contains(':')) throw new ArgumentException($"adapter name '{name}' must not contain ':'");
                multi.LoadAdapter(name, dir);
            }
            return new InferenceEngine(multi, baseModel, options);
        }
        catch
        {
            multi.Dispose();
            throw;
        }
    }

    public string BaseModel { get; }
    public IReadOnlyList<string> Models { get; }
    public GenerationDefaults GenerationDefaults { get; }
    public int Context => scheduler.Context;
    public int QueueDepth => scheduler.QueueDepth;
    public int ActiveSequences => scheduler.ActiveSequences;
    public ITokenizer Tokenizer => tokenizer;

    /// <summary>The adapter a model id names (null = the base); <see cref="UnknownModelException"/> otherwise.</summary>
    public string? Resolve(string model)
    {
        if (model == BaseModel) return null;
        var prefix = BaseModel + ":";
        if (model.StartsWith(prefix, StringComparison.Ordinal) && adapterNames.Contains(model[prefix.Length..])) return model[prefix.Length..];
        if (adapterNames.Contains(model)) return model; // the adapter's bare name
        throw new UnknownModelException(model, Models);
    }

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(CompletionRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var (sequence, forcedTool, parseTools) = Prepare(request);
        var reader = scheduler.Submit(sequence, cancellation);
        var output = new StringBuilder();
        var buffer = parseTools || forcedTool; // a tool call is not content: hold the text until the end
        await foreach (var e in reader.ReadAllAsync(cancellation))
        {
            if (e.Error is { } error)
                throw error is OperationCanceledException ? new OperationCanceledException(error.Message, error, cancellation)
                    : new InvalidOperationException($"generation failed: {error.Message}", error); // the server's fault, not the request's
            if (e.Token is { } token)
            {
                output.Append(token.Text);
                if (!buffer) yield return new CompletionChunk(token.Text, Details(token, request.TopLogprobs));
                continue;
            }
            output.Append(e.Rest);
            var usage = new CompletionUsage(e.Stats!.PromptTokens, e.Stats.GeneratedTokens);
            if (buffer && chat.ParseToolCalls(output.ToString(), request.Tools) is { } calls)
            {
                yield return new CompletionChunk("", FinishReason: FinishReason.ToolCalls, Usage: usage, ToolCalls: calls);
                yield break;
            }
            yield return new CompletionChunk(buffer ? output.ToString() : e.Rest, FinishReason: e.Finish, Usage: usage);
        }
    }

    private (SequenceRequest Sequence, bool ForcedTool, bool ParseTools) Prepare(CompletionRequest request)
    {
        var adapter = Resolve(request.Model);
        request.Options.Validate(tokenizer.VocabSize);
        if (request.TopLogprobs is < 0 || request.TopLogprobs > tokenizer.VocabSize)
            throw new ArgumentException($"TopLogprobs must be between 0 and the vocabulary size {tokenizer.VocabSize} (got {request.TopLogprobs})");
        var options = request.Options with { StopTokenIds = [.. request.Options.StopTokenIds, .. GenerationDefaults.EosTokenIds] };
        var tools = ToolsOffered(request);
        var forcedTool = tools.Count > 0 && request.ToolChoice.ForcesCall;
        var ids = request.Messages is { } messages ? EncodeChat(messages, tools)
            : tokenizer.Encode(request.Prompt ?? throw new ArgumentException("a prompt is required"), addSpecialTokens: true);
        var stops = StopRules.For(config, config.MaxPositionEmbeddings, tokenizer, options, request.Messages is null ? null : chat);
        if (ids.Length >= Context) throw new PromptTooLongException(ids.Length, Context);
        var sequence = new SequenceRequest
        {
            PromptIds = ids, Options = options with { StopStrings = stops.StopStrings }, Adapter = adapter, StopIds = stops.StopIds,
            TopLogprobs = request.TopLogprobs, Constraint = Constraint(forcedTool ? ToolCallParser.CallSchema(tools) : null, request.ResponseFormat),
        };
        return (sequence, forcedTool, tools.Count > 0 && !forcedTool);
    }

    /// <summary>The prompt ids a chat is served with: the model's <see cref="ChatFormat"/>, exactly as fine-tuning encodes
    /// the conversation up to the assistant's turn (tools described first when given).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition> tools)
    {
        if (messages.Count == 0) throw new ArgumentException("messages must not be empty");
        try { return chat.EncodePrompt(messages, tools); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ArgumentException($"the model's chat template refused the messages: {e.Message}", e);
        }
    }

    /// <summary>The tools the model is shown: none for <see cref="ToolChoiceMode.None"/>, the named one for
    /// <see cref="ToolChoiceMode.Function"/>, else all.</summary>
    private static IReadOnlyList<ToolDefinition> ToolsOffered(CompletionRequest request)
    {
        var choice = request.ToolChoice;
        if (choice.Mode == ToolChoiceMode.None) return [];
        if (choice.FunctionName is not { } named) return request.Tools;
        var tools = request.Tools.Where(t => t.Name == named).ToList();
        return tools.Count > 0 ? tools : throw new ArgumentException($"tool_choice names '{named}', which is not among the tools");
    }

    /// <summary>The decoding constraint: a forced tool call's schema first, else the response format's.</summary>
    private JsonConstraint? Constraint(string? toolCallSchema, ResponseFormat format) =>
        toolCallSchema is not null ? new JsonConstraint(jsonTokens, JsonSchemaNode.Parse(toolCallSchema))
        : format.Kind switch
        {
            ResponseFormatKind.JsonSchema => new JsonConstraint(jsonTokens, JsonSchemaNode.Parse(format.Schema!)),
            ResponseFormatKind.JsonObject => new JsonConstraint(jsonTokens, JsonSchemaNode.AnyObject),
            _ => null,
        };

    private List<TokenDetail>? Details(GeneratedToken token, int? topLogprobs)
    {
        if (topLogprobs is null || token.Logprob is not { } logprob) return null;
        var top = token.Top?.Select(t => new KeyValuePair<string, float>(TokenText(t.Id), t.Logprob)).ToList() ?? [];
        return [new TokenDetail(TokenText(token.Id), logprob, top)];
    }

    private string TokenText(int id) => tokenizer.Decode([id]);

    public async Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancellation = default)
    {
        var adapter = Resolve(model);
        if (inputs.Count == 0) throw new ArgumentException("input must not be empty");
        var encoded = inputs.Select(text => tokenizer.Encode(text, addSpecialTokens: true)).ToList();
        foreach (var ids in encoded)
            if (ids.Length > Context) throw new PromptTooLongException(ids.Length, Context);
        var vectors = await scheduler.RunAsync(m => encoded.Select(ids => Embed(m, ids)).ToList(), adapter).WaitAsync(cancellation);
        return new EmbeddingResult(vectors, encoded.Sum(e => e.Length));
    }

    /// <summary>Mean of the final hidden states over the input's positions, divided by its L2 norm.</summary>
    private static float[] Embed(LlamaForCausalLM model, int[] ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], device: model.Options.Device); // (1, T)
        var mean = model.HiddenStates(input)[0].mean([0]);                                                     // (H)
        var unit = mean / mean.norm().clamp_min(1e-12);
        return unit.to(ScalarType.Float32, CPU).data<float>().ToArray();
    }

    public void Dispose()
    {
        scheduler.Dispose();
        owner?.Dispose();
    }
}
