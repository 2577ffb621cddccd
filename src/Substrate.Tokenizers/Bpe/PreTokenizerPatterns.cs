using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Substrate.Tokenizers.Bpe;

/// <summary>
/// The pre-tokenization regexes of the byte-level BPE families, as their authors publish them
/// (<see cref="Llama3"/>, <see cref="Gpt2"/>, …), and the .NET regexes that split text the same way.
/// </summary>
/// <remarks>
/// .NET regexes see UTF-16 code units, the originals (Rust, Python, JS with /u) see code points:
/// <see cref="RegexPreTokenizer"/> runs them on a copy with one character per code point.
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

    /// <summary>Substrate's pattern for small models that copy: letter runs, single digits, punctuation runs and white
    /// space each apart. A word is the same tokens wherever it stands (after a space, a quote, at a line start), so
    /// copying "pest" from "the definition of pest?" into <c>{"key":"pest"}</c> is copying tokens, not respelling
    /// " pest" as "pest" (under <see cref="Llama3"/> they share no token); single digits make every number regular.</summary>
    public const string Words = @"\p{L}+|\p{N}|[^\s\p{L}\p{N}]+|\s+";

    /// <summary>The pattern of a name <c>tokenizer train --pattern</c> takes: llama3, gpt2 or words.</summary>
    public static string Named(string name) => name.ToLowerInvariant() switch
    {
        "llama3" => Llama3,
        "gpt2" => Gpt2,
        "words" => Words,
        _ => throw new ArgumentException($"unknown pre-tokenizer pattern '{name}' (llama3, gpt2 or words)"),
    };

    /// <summary>tiktoken's o200k_base pattern.</summary>
    public const string O200k =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // JavaScript's \s (what transformers.js and gpt-tokenizer run): .NET's lacks U+FEFF and adds U+0085.
    private const string JsWhitespace = @"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";

    private const string Space = "[" + JsWhitespace + "]", NotSpace = "[^" + JsWhitespace + "]";

    // The known patterns as Translate writes them (a test checks), source-generated: the hot path of encoding.
    [GeneratedRegex(
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^" + JsWhitespace + @"\p{L}\p{N}]+[\r\n]*|" + Space + @"*[\r\n]+|"
        + Space + "+(?!" + NotSpace + ")|" + Space + "+", RegexOptions.CultureInvariant)]
    private static partial Regex Llama3Regex();

    [GeneratedRegex(
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^" + JsWhitespace + @"\p{L}\p{N}]+|" + Space + "+(?!" + NotSpace + ")|" + Space + "+",
        RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2Regex();

    [GeneratedRegex(
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
        @"\p{N}{1,3}| ?[^" + JsWhitespace + @"\p{L}\p{N}]+[\r\n/]*|" + Space + @"*[\r\n]+|" + Space + "+(?!" + NotSpace + ")|" + Space + "+",
        RegexOptions.CultureInvariant)]
    private static partial Regex O200kRegex();

    private static readonly ConcurrentDictionary<string, Regex> Compiled = new(StringComparer.Ordinal);

    /// <summary>
    /// The .NET regex that splits like <paramref name="pattern"/> (see <see cref="Translate"/>): source-generated for
    /// the known patterns, else compiled once per pattern. Surrogate pairs are the caller's to handle
    /// (<see cref="RegexPreTokenizer"/> runs on code points).
    /// </summary>
    public static Regex ToRegex(string pattern) => pattern switch
    {
        Llama3 or Cl100k => Llama3Regex(),
        Gpt2 => Gpt2Regex(),
        O200k => O200kRegex(),
        _ => Compiled.GetOrAdd(pattern, p => new Regex(Translate(p), RegexOptions.Compiled | RegexOptions.CultureInvariant)),
    };

    /// <summary>
    /// Rewrites a Rust/Python/JS pattern into one .NET accepts and that splits the same way: possessive quantifiers
    /// dropped (equivalent for patterns of this family) and <c>\s</c>/<c>\S</c> spelled as JavaScript's set.
    /// </summary>
    public static string Translate(string pattern)
    {
        var sb = new StringBuilder(pattern.Length + 64);
        bool inClass = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                char next = pattern[++i];
                if (next == 's') sb.Append(inClass ? JsWhitespace : "[" + JsWhitespace + "]");
                else if (next == 'S' && !inClass) sb.Append("[^" + JsWhitespace + "]");
                else sb.Append(c).Append(next);
                continue;
            }
            if (c == '[' && !inClass) inClass = true;
            else if (c == ']' && inClass) inClass = false;
            else if (c == '+' && !inClass && i > 0 && pattern[i - 1] is '?' or '+' or '*' && !(i > 1 && pattern[i - 2] == '\\'))
                continue; // possessive: x?+ x++ x*+ → x? x+ x*
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>The pattern for a tiktoken rank file, chosen by its file name (default: cl100k).</summary>
    public static string ForTiktokenFile(string path)
    {
        string name = Path.GetFileName(path).ToLowerInvariant();
        if (name.StartsWith("r50k") || name.StartsWith("p50k") || name.StartsWith("gpt2")) return Gpt2;
        if (name.StartsWith("o200k")) return O200k;
        return Cl100k;
    }
}
