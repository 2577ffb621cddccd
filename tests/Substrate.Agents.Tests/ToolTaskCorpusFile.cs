using System.Text.Json;

namespace Substrate.Agents.Tests;

/// <summary>A small corpus in the bundled corpus's shape: WordNet lines ("word (noun): gloss; \"example\"") and Bible
/// chapters ("Genesis N" then numbered verses), enough words and chapters for both sides of the split.</summary>
internal static class ToolTaskCorpusFile
{
    public static string Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var words = Enumerable.Range(0, 60).Select(i => $"{Word(i)} (noun): a thing numbered {i} in the list; \"an example of {Word(i)}\"");
        var lines = new List<string>
        {
            Document("wordnet", string.Join('\n', words.Append("two words, pair (noun): skipped, not one lowercase word"))),
        };
        for (int chapter = 1; chapter <= 30; chapter++)
            lines.Add(Document("bible", $"Genesis {chapter}\n\n" + string.Join('\n', Enumerable.Range(1, 3 + chapter).Select(v => $"{v} Verse text."))));
        lines.Add(Document("sotu", "Not used by the tool tasks."));
        var path = Path.Combine(directory, "train.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>0 → "bab", 1 → "bac", …: distinct lowercase words of three letters and more.</summary>
    static string Word(int i) => "ba" + (char)('a' + i % 26) + new string('x', i / 26);

    static string Document(string source, string text) => JsonSerializer.Serialize(new { source, id = $"{source}/1", text });
}
