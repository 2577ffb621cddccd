using System.Text;
using Substrate.IO;

namespace Substrate.Tokenizers.Tests;

/// <summary>
/// The texts family tokenizers are checked on: paragraphs of the bundled corpus sample, the hard
/// cases of <see cref="TestStrings"/>, and seeded generated strings mixing unicode scripts,
/// whitespace runs, digits, CJK, emoji (with ZWJ, skin tones, flags), combining marks and the
/// family's own special-token text. Same strings on every run.
/// </summary>
public static class PropertyCorpus
{
    private static readonly string[][] Pools =
    [
        ["the", "The", "THE", "whale", "don't", "I'm", "we'll", "'s", "'LL", "camelCase", "snake_case", "x", "a.b", "e-mail", "naïve"],
        [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "\u2009", " \n ", "\t\t", "\n\n\n", "\u200b", "\u2028"],
        ["0", "7", "42", "123", "1234", "12345", "3.14", "1,000", "-1", "1e9", "٣٤", "۱۲", "１２３", "½", "²", "Ⅻ"],
        ["你好", "世界", "天气很好", "日本語", "テキスト", "ひらがな", "한국어", "中文，标点。", "「引用」", "𠀀𠀁", "漢字かな交じり"],
        ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵", "❤️", "✨", "🙂🙂", "🤖", "⌚", "©", "™", "🀄", "𝄞"],
        ["e\u0301", "a\u0300", "n\u0303", "o\u0308", "\u0301", "é", "ñ", "ḕ", "q\u0307\u0323", "\u0300\u0301", "क्षि", "ไม่", "ا\u064b"],
        ["Привет", "мир", "Γειά", "αβγ", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "Ünïcödé", "ß", "ǅ", "İstanbul", "Ελλάδα"],
        ["!", "?", "...", "—", "“", "”", "«", "»", "(", ")", "{", "}", "<", ">", "/", "\\", "#", "@", "&amp;", "::", "->", "==", "'"],
        ["\u0001", "\u001f", "\u007f", "\u0085", "\ufeff", "\ufffd", "\u00ad", "\u200d", "\ue000"],
        ["𝐀𝐁𝐂", "𝒶𝒷", "𐍈", "𓀀", "🄰"],
    ];

    /// <summary>Paragraphs of data/corpus/validation.jsonl.gz (at most <paramref name="maxChars"/> each).</summary>
    public static IEnumerable<string> CorpusParagraphs(int count, int maxChars = 1500)
    {
        string path = Path.Combine(References.ReferenceFiles.RepoRoot, "data", "corpus", "validation.jsonl.gz");
        if (!File.Exists(path)) yield break;
        int n = 0;
        foreach (var document in CorpusFiles.ReadDocuments([path]))
        {
            foreach (var paragraph in document.Split("\n\n"))
            {
                if (paragraph.Length == 0) continue;
                yield return paragraph.Length > maxChars ? paragraph[..maxChars] : paragraph;
                if (++n == count) yield break;
            }
        }
    }

    /// <summary>Seeded strings of 1–24 pieces drawn from the pools and <paramref name="specialTexts"/>.</summary>
    public static IEnumerable<string> Generated(int count, IReadOnlyList<string> specialTexts, int seed = 20261203)
    {
        var random = new Random(seed);
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            sb.Clear();
            int pieces = random.Next(1, 25);
            for (int p = 0; p < pieces; p++)
            {
                int pool = random.Next(Pools.Length + 1);
                if (pool == Pools.Length)
                {
                    if (specialTexts.Count > 0 && random.Next(3) == 0) sb.Append(specialTexts[random.Next(specialTexts.Count)]);
                    else sb.Append((char)random.Next(0x20, 0x7f));
                    continue;
                }
                sb.Append(Pools[pool][random.Next(Pools[pool].Length)]);
                if (random.Next(3) == 0) sb.Append(' ');
            }
            yield return sb.ToString();
        }
    }
}
