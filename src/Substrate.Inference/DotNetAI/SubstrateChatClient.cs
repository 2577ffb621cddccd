using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Substrate.Inference.Serving;
using Substrate.Tokenizers.ChatTemplates;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using Turn = Substrate.Tokenizers.ChatTemplates.ChatMessage;

namespace Substrate.Inference.DotNetAI;

/// <summary>
/// Microsoft.Extensions.AI <see cref="IChatClient"/> over an <see cref="IInferenceEngine"/>, in process, no HTTP:
/// ChatOptions map to sampling (MaxOutputTokens, Temperature, TopP, TopK, Seed, StopSequences), ResponseFormat Json
/// (with or without schema) to constrained decoding, Tools/ToolMode to tool calls (returned as FunctionCallContent).
/// ChatOptions.ModelId picks the base model or an adapter ("base:adapter"); default: the engine's base.
/// </summary>
public sealed class SubstrateChatClient(IInferenceEngine engine, string? model = null) : IChatClient
{
    private readonly string defaultModel = model ?? engine.BaseModel;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken)) updates.Add(update);
        return updates.ToChatResponse();
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = ToRequest(messages, options);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        await foreach (var chunk in engine.StreamAsync(request, cancellationToken))
        {
            var contents = new List<AIContent>();
            if (chunk.Text.Length > 0) contents.Add(new TextContent(chunk.Text));
            foreach (var call in chunk.ToolCalls ?? [])
                contents.Add(new FunctionCallContent(call.Id, call.Name, JsonSerializer.Deserialize<Dictionary<string, object?>>(call.Arguments)));
            if (chunk.Usage is { } usage)
                contents.Add(new UsageContent(new UsageDetails
                {
                    InputTokenCount = usage.PromptTokens, OutputTokenCount = usage.CompletionTokens, TotalTokenCount = usage.TotalTokens,
                }));
            yield return new ChatResponseUpdate(ChatRole.Assistant, contents)
            {
                ResponseId = id, MessageId = id, ModelId = request.Model, CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = chunk.FinishReason is { } finish ? ToChatFinishReason(finish) : null,
            };
        }
    }

    /// <summary>M.E.AI's finish reason for ours: the end of the text (EOS, a stop string) is Stop, a token limit Length.</summary>
    private static ChatFinishReason? ToChatFinishReason(FinishReason finish) => finish switch
    {
        FinishReason.Eos or FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.MaxTokens or FinishReason.Context => ChatFinishReason.Length,
        FinishReason.ToolCalls => ChatFinishReason.ToolCalls,
        _ => null,
    };

    private CompletionRequest ToRequest(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var turns = new List<Turn>();
        if (options?.Instructions is { } instructions) turns.Add(new Turn("system", instructions));
        foreach (var m in messages)
        {
            var calls = m.Contents.OfType<FunctionCallContent>().Select(c => new ToolCall(c.CallId, c.Name, ArgumentsText(c.Arguments))).ToList();
            var results = m.Contents.OfType<FunctionResultContent>().ToList();
            if (results.Count > 0)
                foreach (var r in results) turns.Add(new Turn("tool", r.Result is string s ? s : JsonSerializer.Serialize(r.Result), ToolCallId: r.CallId));
            else
                turns.Add(new Turn(m.Role.Value, m.Text, calls.Count > 0 ? calls : null));
        }
        var generation = new GenerationOptions
        {
            MaxTokens = options?.MaxOutputTokens ?? 256,
            Temperature = options?.Temperature ?? 1.0,
            TopP = options?.TopP ?? 1.0,
            TopK = options?.TopK ?? 0,
            Seed = options?.Seed,
            StopStrings = options?.StopSequences?.ToList() ?? [],
        };
        var tools = options?.Tools?.OfType<AIFunctionDeclaration>()
            .Select(f => new ToolDefinition(f.Name, f.Description, f.JsonSchema.GetRawText())).ToList() ?? [];
        var choice = options?.ToolMode switch
        {
            NoneChatToolMode => ToolChoice.None,
            RequiredChatToolMode { RequiredFunctionName: { } name } => ToolChoice.Function(name),
            RequiredChatToolMode => ToolChoice.Required,
            _ => ToolChoice.Auto,
        };
        var format = options?.ResponseFormat switch
        {
            ChatResponseFormatJson { Schema: { } schema } => ResponseFormat.JsonSchema(schema.GetRawText()),
            ChatResponseFormatJson => ResponseFormat.JsonObject,
            _ => ResponseFormat.Text,
        };
        return new CompletionRequest
        {
            Model = options?.ModelId ?? defaultModel, Messages = turns, Options = generation, Tools = tools, ToolChoice = choice, ResponseFormat = format,
        };
    }

    /// <summary>A call's arguments as the history shows them to the model: compact JSON, characters as they are ("+", not
    /// "\u002B": the model wrote them so). Tool-use training data writes calls with this too.</summary>
    public static string ArgumentsText(IDictionary<string, object?>? arguments) =>
        JsonSerializer.Serialize(arguments ?? new Dictionary<string, object?>(), RelaxedJson);

    private static readonly JsonSerializerOptions RelaxedJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("substrate", null, defaultModel)
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(engine) ? engine : null;

    public void Dispose() { }
}
