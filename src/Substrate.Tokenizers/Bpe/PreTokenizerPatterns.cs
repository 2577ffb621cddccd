using System.Text.RegularExpressions;

namespace Substrate.Tokenizers.Bpe;

/// <summary>
/// The pre-tokenization regexes of the byte-level BPE families, as their authors publish them
/// (<see cref="Llama3"/>, <see cref="Gpt2"/>, …), and the .NET regexes that split text the same way.
/// </summary>
/// <remarks>
/// .NET regexes see UTF-16 code units, the originals (Rust, Python, JS with /u) see code points.
/// Where a pattern matches exactly one character of a negated class (<c>[^\r\n\p{L}\p{N}]?</c>),
/// a surrogate pair must count as one character, so the .NET form tries a pair first.
/// Letters and digits outside the Basic Multilingual Plane (e.g. CJK extension B, math
/// alphanumerics) are still classed as symbols by .NET: text made of those may split differently.
/// </remarks>
public static partial class PreTokenizerPatterns
{
    /// <summary>Llama 3's Split regex, byte for byte as Hugging Face tokenizers writes it in tokenizer.json.</summary>
    public const string Llama3 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>tiktoken's cl100k_base pattern (splits like <see cref="Llama3"/>).</summary>
    public const string Cl100k =
        @"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

    /// <summary>GPT-2's pattern (also r50k_base and p50k_base, and HF ByteLevel with use_regex).</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>tiktoken's o200k_base pattern.</summary>
    public const string O200k =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // A surrogate pair, or one BMP character of the class: what [^\r\n\p{L}\p{N}]? means on code points.
    private const string OneNonLetter = @"(?:[\uD800-\uDBFF][\uDC00-\uDFFF]|[^\r\n\p{L}\p{N}])";

    [GeneratedRegex(
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|" + OneNonLetter + @"?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        RegexOptions.CultureInvariant)]
    private static partial Regex Llama3Regex();

    [GeneratedRegex(Gpt2, RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2Regex();

    [GeneratedRegex(
        OneNonLetter + @"?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        OneNonLetter + @"?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        RegexOptions.CultureInvariant)]
    private static partial Regex O200kRegex();

    /// <summary>
    /// The .NET regex that splits like <paramref name="pattern"/>: a source-generated one for the
    /// known patterns, else a compiled translation (possessive quantifiers dropped — equivalent
    /// for patterns of this family — and the surrogate-pair fix applied).
    /// </summary>
    public static Regex ToRegex(string pattern) => pattern switch
    {
        Llama3 or Cl100k => Llama3Regex(),
        Gpt2 => Gpt2Regex(),
        O200k => O200kRegex(),
        _ => new Regex(Translate(pattern), RegexOptions.Compiled | RegexOptions.CultureInvariant),
    };

    /// <summary>Rewrites a Rust/Python pattern into one .NET accepts and that splits the same way.</summary>
    public static string Translate(string pattern) =>
        pattern.Replace("?+", "?").Replace("++", "+").Replace("*+", "*")
            .Replace(@"[^\r\n\p{L}\p{N}]?", OneNonLetter + "?");

    /// <summary>The pattern for a tiktoken rank file, chosen by its file name (default: cl100k).</summary>
    public static string ForTiktokenFile(string path)
    {
        string name = Path.GetFileName(path).ToLowerInvariant();
        if (name.StartsWith("r50k") || name.StartsWith("p50k") || name.StartsWith("gpt2")) return Gpt2;
        if (name.StartsWith("o200k")) return O200k;
        return Cl100k;
    }
}
