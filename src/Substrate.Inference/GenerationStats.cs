namespace Substrate.Inference;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>Still running (or the consumer stopped reading early).</summary>
    None,
    /// <summary>An end-of-sequence token.</summary>
    Eos,
    /// <summary>A stop string.</summary>
    Stop,
    /// <summary>MaxTokens reached.</summary>
    MaxTokens,
    /// <summary>The model's context (max_position_embeddings) is full.</summary>
    Context,
    /// <summary>The output is a tool call (set by the <see cref="InferenceEngine"/>, never by a generator).</summary>
    ToolCalls,
}

/// <summary>Filled in by a generation as it runs: token counts, timings, why it ended.</summary>
public sealed class GenerationStats
{
    public int PromptTokens { get; internal set; }
    public int GeneratedTokens { get; internal set; }
    public FinishReason FinishReason { get; internal set; }
    /// <summary>Time to the first new token (prompt processing plus one sampling step).</summary>
    public TimeSpan PrefillTime { get; internal set; }
    /// <summary>Time for every token after the first.</summary>
    public TimeSpan DecodeTime { get; internal set; }

    /// <summary>Tokens per second after the first token; 0 when fewer than two were generated.</summary>
    public double DecodeTokensPerSecond => GeneratedTokens > 1 && DecodeTime > TimeSpan.Zero ? (GeneratedTokens - 1) / DecodeTime.TotalSeconds : 0;
}
