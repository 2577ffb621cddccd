using System.Text.RegularExpressions;
using Substrate.Agents.Tools;
using Substrate.IO;

namespace Substrate.Agents.Evaluation;

/// <summary>
/// The lookup table of the tool tasks, built from the bundled corpus: WordNet words (one lowercase word, 3–12 letters,
/// first sense) → their gloss (without examples, 10–60 characters), and Bible chapters ("Genesis 23") → their number of
/// verses ("20 verses").
/// </summary>
public static partial class ToolTaskCorpus
{
    /// <summary>The table from corpus JSONL files (<c>{"source", "text"}</c> documents, .gz or not); other sources are skipped.</summary>
    public static LookupTable Build(IEnumerable<string> corpusFiles)
    {
        var entries = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var words = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in corpusFiles)
            foreach (var (record, _) in JsonLines.Read(file))
            {
                var source = record.TryGetProperty("source", out var s) ? s.GetString() : null;
                var text = record.TryGetProperty("text", out var t) ? t.GetString() ?? "" : "";
                if (source == "wordnet") AddGlosses(text, entries, words);
                else if (source == "bible") AddChapter(text, entries);
            }
        if (entries.Count == 0) throw new InvalidDataException("the corpus has no WordNet or Bible documents to build the lookup table from");
        return new LookupTable(entries);
    }

    static void AddGlosses(string text, Dictionary<string, string> entries, HashSet<string> seen)
    {
        foreach (var line in text.Split('\n'))
        {
            var m = Synset().Match(line);
            if (!m.Success || !seen.Add(m.Groups[1].Value)) continue; // a word's first sense only
            var gloss = m.Groups[2].Value.Split("; \"")[0].Trim();
            if (m.Groups[1].Length is >= 3 and <= 12 && gloss.Length is >= 10 and <= 60 && !gloss.Contains('"'))
                entries.TryAdd(m.Groups[1].Value, gloss);
        }
    }

    static void AddChapter(string text, Dictionary<string, string> entries)
    {
        var lines = text.Split('\n');
        var verses = lines.Count(l => Verse().IsMatch(l));
        if (Chapter().IsMatch(lines[0]) && verses > 0) entries.TryAdd(lines[0], $"{verses} verses");
    }

    /// <summary>The number a chapter's entry starts with ("20 verses" → 20).</summary>
    public static int Verses(string entry) => int.Parse(entry.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    public static bool IsChapter(string key) => Chapter().IsMatch(key);

    [GeneratedRegex(@"^([a-z]+)(?:, [^()]*)? \(\w+\): (.*)$")]
    private static partial Regex Synset();

    [GeneratedRegex(@"^\d+ ")]
    private static partial Regex Verse();

    [GeneratedRegex(@"^(?:\d )?[A-Z][A-Za-z ]+ \d+$")]
    private static partial Regex Chapter();
}
