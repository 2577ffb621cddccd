namespace Substrate.Inference.Serving;

/// <summary>One sequence for the <see cref="BatchScheduler"/>: prompt ids, sampling, and what ends or shapes it.</summary>
public sealed record SequenceRequest
{
    public required IReadOnlyList<int> PromptIds { get; init; }
    public GenerationOptions Options { get; init; } = new();

    /// <summary>The adapter to decode with; null = the base model.</summary>
    public string? Adapter { get; init; }

    /// <summary>Ids that end generation (EOS, end-of-turn); not part of the output.</summary>
    public IReadOnlySet<int> StopIds { get; init; } = new HashSet<int>();

    /// <summary>Masks the logits at each step (constrained decoding); null = free.</summary>
    public ITokenConstraint? Constraint { get; init; }

    /// <summary>Log-probabilities to report: null none, 0 the chosen token's, N also the N most likely.</summary>
    public int? TopLogprobs { get; init; }
}

/// <summary>A token the scheduler produced: its id, the text it released (may be "", held back for UTF-8 or a stop
/// string) and, when asked for, its log-probability and the most likely alternatives.</summary>
public sealed record GeneratedToken(int Id, string Text, float? Logprob, IReadOnlyList<TokenLogprob>? Top);

public sealed record TokenLogprob(int Id, float Logprob);

/// <summary>What a sequence's reader sees: tokens, then one final event with the finish reason and counts (or an error).</summary>
public sealed record SequenceEvent(
    GeneratedToken? Token, FinishReason? Finish = null, GenerationStats? Stats = null, Exception? Error = null, string Rest = "");
