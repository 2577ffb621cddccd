using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers;

/// <summary>
/// How a <see cref="ByteLevelBpeTokenizer"/> pre-tokenizes and post-processes, mirroring the
/// tokenizer.json fields: Split regex, <c>ignore_merges</c>, ByteLevel <c>add_prefix_space</c>,
/// and the tokens a TemplateProcessing post-processor puts around a single sequence.
/// </summary>
public sealed record ByteLevelBpeOptions
{
    /// <summary>The pre-tokenization regex as its authors write it (see <see cref="PreTokenizerPatterns"/>).</summary>
    public string Pattern { get; init; } = PreTokenizerPatterns.Llama3;

    /// <summary>Split patterns applied before <see cref="Pattern"/>, in order, each cutting the pieces of the one before
    /// (DeepSeek V3: digits, then CJK runs, then its word pattern).</summary>
    public IReadOnlyList<string> PrePatterns { get; init; } = [];

    /// <summary>The tokenizer.json normalizer as a Unicode normalization form (Qwen: NFC); null for none.</summary>
    public System.Text.NormalizationForm? Normalization { get; init; }

    /// <summary>A pre-token that is itself in the vocabulary becomes that one token without merging (Llama 3, tiktoken).</summary>
    public bool IgnoreMerges { get; init; } = true;

    /// <summary>Prepend a space to each text run that doesn't start with one (RoBERTa-style ByteLevel).</summary>
    public bool AddPrefixSpace { get; init; }

    /// <summary>Tokens placed before the text when encoding with addSpecialTokens (e.g. BOS).</summary>
    public IReadOnlyList<string> PrefixTokens { get; init; } = [];

    /// <summary>Tokens placed after the text when encoding with addSpecialTokens.</summary>
    public IReadOnlyList<string> SuffixTokens { get; init; } = [];

    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
}
