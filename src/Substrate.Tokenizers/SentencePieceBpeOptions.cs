namespace Substrate.Tokenizers;

/// <summary>
/// The normalizer, pre-tokenizer, model and decoder settings of a SentencePiece-style BPE
/// tokenizer.json (Llama 2, Mistral): spaces become '▁', a '▁' is prepended, characters missing
/// from the vocabulary fall back to <c>&lt;0xNN&gt;</c> byte tokens.
/// </summary>
public sealed record SentencePieceBpeOptions
{
    /// <summary>Normalizer Prepend: added before each non-empty text run (Llama 2's "▁").</summary>
    public string? Prepend { get; init; }

    /// <summary>Normalizer Replace steps (plain strings), applied in order after Prepend.</summary>
    public IReadOnlyList<(string Pattern, string Content)> Replacements { get; init; } = [];

    /// <summary>Metaspace pre-tokenizer replacement character, null when there is none.</summary>
    public char? MetaspaceReplacement { get; init; }

    /// <summary>Metaspace prepend_scheme: "always", "first" (only at the start of the text) or "never".</summary>
    public string MetaspacePrependScheme { get; init; } = "always";

    /// <summary>Metaspace split: each '▁' starts a new word (merges never cross words).</summary>
    public bool MetaspaceSplit { get; init; }

    /// <summary>Split pre-tokenizer with a literal pattern and behaviour MergedWithPrevious (Gemma 3: " "): each
    /// occurrence ends a word. It runs on the normalized text, so after Gemma's ' ' → '▁' it finds nothing.</summary>
    public string? SplitAfter { get; init; }

    public bool ByteFallback { get; init; } = true;
    public string? UnkToken { get; init; }
    public bool FuseUnk { get; init; }
    public bool IgnoreMerges { get; init; }

    /// <summary>The decoder chain, in tokenizer.json order.</summary>
    public IReadOnlyList<DecoderStep> Decoder { get; init; } = [];

    public IReadOnlyList<string> PrefixTokens { get; init; } = [];
    public IReadOnlyList<string> SuffixTokens { get; init; } = [];
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
}

/// <summary>One HF decoder step over the list of token strings.</summary>
public abstract record DecoderStep
{
    /// <summary>Replace a plain string in every token.</summary>
    public sealed record Replace(string Pattern, string Content) : DecoderStep;

    /// <summary>Runs of &lt;0xNN&gt; tokens become the text of their bytes (invalid UTF-8: one U+FFFD per byte).</summary>
    public sealed record ByteFallback : DecoderStep;

    /// <summary>Join all tokens into one.</summary>
    public sealed record Fuse : DecoderStep;

    /// <summary>Remove up to Start leading and Stop trailing Content characters from each token.</summary>
    public sealed record Strip(char Content, int Start, int Stop) : DecoderStep;

    /// <summary>Replacement → space; the first token loses its leading space unless PrependScheme is "never".</summary>
    public sealed record Metaspace(char Replacement, string PrependScheme) : DecoderStep;
}
