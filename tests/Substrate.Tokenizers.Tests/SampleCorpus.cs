namespace Substrate.Tokenizers.Tests;

/// <summary>Seeded pseudo-English documents: same text on every run, varied enough to train on.</summary>
public static class SampleCorpus
{
    private static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
        "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
        "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will",
        "would", "who", "so", "no", "people", "government", "nation", "states", "congress", "whale", "ship",
        "captain", "sea", "year", "world", "country", "law", "public", "great", "new", "time", "first", "made",
    ];

    public static IEnumerable<string> Documents(int count, int seed = 1234)
    {
        var random = new Random(seed);
        for (int d = 0; d < count; d++)
        {
            var sentences = new List<string>();
            int sentenceCount = random.Next(3, 8);
            for (int s = 0; s < sentenceCount; s++)
            {
                var words = Enumerable.Range(0, random.Next(5, 15)).Select(_ => Words[random.Next(Words.Length)]).ToArray();
                words[0] = char.ToUpperInvariant(words[0][0]) + words[0][1..];
                string tail = random.Next(10) switch { 0 => $" in {1700 + random.Next(320)}", 1 => "'s", _ => "" };
                sentences.Add(string.Join(' ', words) + tail + (random.Next(5) == 0 ? "!" : "."));
            }
            yield return string.Join(' ', sentences) + "\n";
        }
    }
}
