using System.Globalization;
using System.Text;

namespace Substrate.Retrieval.Embeddings;

/// <summary>
/// BERT's uncased tokenizer, as Hugging Face's BertTokenizer(do_lower_case=True) runs it: clean the text (drop control
/// characters, any white space is a space), put spaces around CJK ideographs, split on white space, lower-case, strip
/// accents (<see cref="LatinAccents"/>), split off every punctuation character (ASCII symbols such as $ and ` included,
/// as BERT counts them), then WordPiece each word: longest vocabulary match first, continuations prefixed "##", a word
/// with no match (or over 100 characters) one [UNK].
/// </summary>
/// <remarks>
/// Why not Microsoft.ML.Tokenizers' <c>BertTokenizer</c> (2.0.1, the pinned version; options LowerCaseBeforeTokenization
/// and RemoveNonSpacingMarks)? On the MiniLM vocabulary it gives other ids than BERT's uncased tokenizer, so MiniLM would
/// see inputs it was not trained on (BertTokenizerComparisonTests pins each case):
/// - ASCII symbols: it drops "$" ("at $4.50" loses id 1002); BERT splits every ASCII symbol off as a token. This is in the
///   existing MiniLM tests, so ours stays.
/// - Accents: "Café", "crème", "École" become [UNK]; BERT decomposes (NFD) and drops the marks: "cafe", "creme", "ecole".
/// - Format characters: a zero-width space or soft hyphen is not removed and splits words otherwise; BERT removes them.
/// - Other symbols and non-ASCII punctuation: "¿qué", "½", "€", "©", "™" become [UNK] or vanish where BERT keeps them.
/// - A character outside the vocabulary (an emoji) vanishes; BERT (and ours) gives [UNK].
/// - Literal "[CLS]", "[SEP]" … in the text become the special ids (101, 102 …), as Hugging Face's tokenizer does by
///   default; ours reads them as text ("[", "cl", "##s", "]"), which is right for documents, which are never prompts.
/// </remarks>
public sealed class WordPieceTokenizer
{
    const int MaxWordChars = 100;
    private readonly Dictionary<string, int> vocabulary;

    public WordPieceTokenizer(IEnumerable<string> vocabularyLines)
    {
        vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in vocabularyLines) vocabulary.TryAdd(line.TrimEnd('\r'), vocabulary.Count);
        Unknown = vocabulary["[UNK]"];
        Classification = vocabulary["[CLS]"];
        Separator = vocabulary["[SEP]"];
    }

    public int Unknown { get; }
    public int Classification { get; }
    public int Separator { get; }

    /// <summary>The ids of a text's word pieces, without [CLS]/[SEP].</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var word in BasicTokens(text)) WordPiece(word, ids);
        return ids;
    }

    static IEnumerable<string> BasicTokens(string text)
    {
        var clean = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c == 0 || c == '\uFFFD' || IsControl(c)) continue;
            if (IsCjk(c)) clean.Append(' ').Append(c).Append(' ');
            else clean.Append(char.IsWhiteSpace(c) ? ' ' : c);
        }
        foreach (var word in clean.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var lower = LatinAccents.Strip(word.ToLowerInvariant());
            int start = 0;
            for (int i = 0; i < lower.Length; i++)
            {
                if (!IsPunctuation(lower[i])) continue;
                if (i > start) yield return lower[start..i];
                yield return lower[i].ToString();
                start = i + 1;
            }
            if (start < lower.Length) yield return lower[start..];
        }
    }

    void WordPiece(string word, List<int> ids)
    {
        if (word.Length > MaxWordChars) { ids.Add(Unknown); return; }
        int mark = ids.Count, start = 0;
        while (start < word.Length)
        {
            int end = word.Length, found = -1;
            for (; end > start; end--)
                if (vocabulary.TryGetValue(start > 0 ? "##" + word[start..end] : word[start..end], out found)) break;
            if (end == start)
            {
                ids.RemoveRange(mark, ids.Count - mark);
                ids.Add(Unknown);
                return;
            }
            ids.Add(found);
            start = end;
        }
    }

    static bool IsControl(char c) => c is not ('\t' or '\n' or '\r')
        && CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format;

    static bool IsPunctuation(char c) => c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~'
        || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    static bool IsCjk(char c) => c is >= '\u4E00' and <= '\u9FFF' or >= '\u3400' and <= '\u4DBF' or >= '\uF900' and <= '\uFAFF';
}
