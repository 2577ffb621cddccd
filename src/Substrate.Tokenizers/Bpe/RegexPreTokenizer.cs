using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Substrate.Tokenizers.Bpe;

/// <summary>
/// Split pre-tokenizers in sequence, each with behaviour Isolated (HF <c>Split</c>): a regex cuts every piece
/// into its matches and the text between them, and the next regex cuts those pieces again (DeepSeek V3 chains
/// three). Regexes see code points, as the originals do: when the text holds surrogate pairs they run on a
/// shadow copy in which each supplementary code point is one BMP character of the same Unicode category, so
/// <c>\p{L}</c>, <c>\p{S}</c> and <c>[^…]?</c> treat 😀 or 𝐀 as one character of the right kind.
/// </summary>
public sealed class RegexPreTokenizer
{
    private readonly Regex[] _regexes;

    public RegexPreTokenizer(IReadOnlyList<string> patterns)
    {
        if (patterns.Count == 0) throw new ArgumentException("at least one pattern", nameof(patterns));
        Patterns = patterns;
        _regexes = patterns.Select(PreTokenizerPatterns.ToRegex).ToArray();
    }

    /// <summary>The patterns as their authors write them, in order.</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Appends the pieces of <paramref name="text"/> (start, length), in order; together they cover the text.</summary>
    public void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces)
    {
        int first = pieces.Count;
        if (text.IndexOfAnyInRange('\uD800', '\uDBFF') < 0)
        {
            SplitAll(text, pieces, first);
            return;
        }
        var (shadow, offsets) = Shadow(text);
        SplitAll(shadow, pieces, first);
        for (int i = first; i < pieces.Count; i++)
        {
            var (s, l) = pieces[i];
            pieces[i] = (offsets[s], offsets[s + l] - offsets[s]);
        }
    }

    private void SplitAll(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces, int first)
    {
        Isolate(_regexes[0], text, 0, pieces);
        for (int r = 1; r < _regexes.Length; r++)
        {
            int end = pieces.Count;
            for (int i = first; i < end; i++)
            {
                var (s, l) = pieces[i];
                Isolate(_regexes[r], text.Slice(s, l), s, pieces);
            }
            pieces.RemoveRange(first, end - first);
        }
    }

    // Matches and the gaps between them, each a piece (HF SplitDelimiterBehavior::Isolated).
    private static void Isolate(Regex regex, ReadOnlySpan<char> text, int offset, List<(int Start, int Length)> pieces)
    {
        int at = 0;
        foreach (var m in regex.EnumerateMatches(text))
        {
            if (m.Length == 0) continue;
            if (m.Index > at) pieces.Add((offset + at, m.Index - at));
            pieces.Add((offset + m.Index, m.Length));
            at = m.Index + m.Length;
        }
        if (at < text.Length) pieces.Add((offset + at, text.Length - at));
    }

    /// <summary>One char per code point, and for each shadow index the original index (one past the end too).</summary>
    private static (string Shadow, int[] Offsets) Shadow(ReadOnlySpan<char> text)
    {
        var shadow = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            offsets.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                shadow.Append(Representative(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))));
                i++;
            }
            else shadow.Append(text[i]);
        }
        offsets.Add(text.Length);
        return (shadow.ToString(), offsets.ToArray());
    }

    // A BMP character of each category, none of them ASCII, whitespace, or inside the ranges family patterns name.
    private static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => 'À',
        UnicodeCategory.LowercaseLetter => 'ß',
        UnicodeCategory.TitlecaseLetter => 'ǅ',
        UnicodeCategory.ModifierLetter => 'ʰ',
        UnicodeCategory.OtherLetter => 'א',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => 'Ⅰ',
        UnicodeCategory.OtherNumber => '²',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.ConnectorPunctuation => '‿',
        UnicodeCategory.DashPunctuation => '‐',
        UnicodeCategory.OpenPunctuation => '⁅',
        UnicodeCategory.ClosePunctuation => '⁆',
        UnicodeCategory.InitialQuotePunctuation => '«',
        UnicodeCategory.FinalQuotePunctuation => '»',
        UnicodeCategory.OtherPunctuation => '¡',
        UnicodeCategory.MathSymbol => '¬',
        UnicodeCategory.CurrencySymbol => '¢',
        UnicodeCategory.ModifierSymbol => '˂',
        UnicodeCategory.OtherSymbol => '©',
        _ => '\u0378', // unassigned
    };
}
