namespace Substrate.Tokenizers.Training;

/// <summary>
/// Settings for <see cref="BpeTrainer"/>. <see cref="VocabSize"/> counts everything: 256 byte tokens,
/// the merges, and the special tokens (which take the last ids, as in Llama 3).
/// </summary>
public sealed record BpeTrainerOptions
{
    /// <summary>The Llama-3-style special tokens a trained tokenizer reserves, in id order.</summary>
    public static readonly IReadOnlyList<string> DefaultSpecialTokens =
    [
        "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
    ];

    public int VocabSize { get; init; } = 8192;

    public IReadOnlyList<string> SpecialTokens { get; init; } = DefaultSpecialTokens;

    /// <summary>A pair seen fewer times than this is never merged (training may then stop short of VocabSize).</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>The pre-tokenization regex (default Llama 3's).</summary>
    public string Pattern { get; init; } = Bpe.PreTokenizerPatterns.Llama3;

    public string? BosToken { get; init; } = "<|begin_of_text|>";
    public string? EosToken { get; init; } = "<|end_of_text|>";
    public string? PadToken { get; init; } = "<|pad|>";

    /// <summary>Called now and then from the training thread (never concurrently).</summary>
    public Action<BpeTrainingProgress>? Progress { get; init; }
}

/// <summary>Where training is: Stage "count" (Done = characters read) or "merge" (Done of Total merges).</summary>
public sealed record BpeTrainingProgress(string Stage, long Done, long Total);
