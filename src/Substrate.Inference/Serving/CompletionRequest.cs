using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Inference.Serving;

/// <summary>A request to the <see cref="IInferenceEngine"/>: a model id (base or base:adapter), either a prompt or
/// chat messages, sampling, output shape, tools.</summary>
public sealed record CompletionRequest
{
    public required string Model { get; init; }
    public string? Prompt { get; init; }
    public IReadOnlyList<ChatMessage>? Messages { get; init; }
    public GenerationOptions Options { get; init; } = new();
    /// <summary>Null: no log-probabilities; 0: the chosen tokens' log-probabilities; N: also the N most likely at each step.</summary>
    public int? TopLogprobs { get; init; }
    public ResponseFormat ResponseFormat { get; init; } = ResponseFormat.Text;
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Auto;
}

/// <summary>A piece of a completion as it streams: text, per-token details when asked for, and on the last piece the
/// finish reason, usage and any tool calls parsed from the output.</summary>
public sealed record CompletionChunk(string Text, IReadOnlyList<TokenDetail>? Tokens = null, FinishReason? FinishReason = null,
    CompletionUsage? Usage = null, IReadOnlyList<ToolCall>? ToolCalls = null);

/// <summary>A generated token as text, its log-probability and the most likely alternatives.</summary>
public sealed record TokenDetail(string Token, float Logprob, IReadOnlyList<KeyValuePair<string, float>> Top);

public sealed record CompletionUsage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>Embeddings of several inputs (unit vectors) and the tokens read.</summary>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Vectors, int PromptTokens);
