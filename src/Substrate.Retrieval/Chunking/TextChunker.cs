using System.Text.RegularExpressions;
using Substrate.Retrieval.Documents;

namespace Substrate.Retrieval.Chunking;

/// <summary>
/// Splits sections into chunks of at most <see cref="MaxTokens"/> tokens (counted by the embedding model's tokenizer),
/// each starting with up to <see cref="OverlapTokens"/> tokens of the sentences that ended the chunk before it. Chunks
/// break between sentences (a line break counts as one) and, when the chunk is at least half full, before a paragraph
/// that would not fit whole; a sentence longer than a chunk is cut between words. A chunk never spans two sections.
/// </summary>
public sealed partial class TextChunker
{
    private readonly Func<string, int> countTokens;

    public TextChunker(Func<string, int> countTokens, int maxTokens = 200, int overlapTokens = 32)
    {
        if (maxTokens < 8) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "a chunk needs at least 8 tokens");
        if (overlapTokens < 0 || overlapTokens >= maxTokens / 2)
            throw new ArgumentOutOfRangeException(nameof(overlapTokens), overlapTokens, $"overlap must be in 0…{maxTokens / 2 - 1}");
        this.countTokens = countTokens;
        MaxTokens = maxTokens;
        OverlapTokens = overlapTokens;
    }

    public int MaxTokens { get; }
    public int OverlapTokens { get; }

    public List<TextChunk> Chunk(IEnumerable<DocumentSection> sections) => sections.SelectMany(s => Chunk(s.Text, s.Position)).ToList();

    public List<TextChunk> Chunk(string text, string position)
    {
        var units = Units(text);
        var chunks = new List<TextChunk>();
        var current = new List<Unit>();
        int tokens = 0, newUnits = 0;
        for (int i = 0; i < units.Count; i++)
        {
            var unit = units[i];
            bool full = tokens + unit.Tokens > MaxTokens;
            bool paragraphBreak = unit.StartsParagraph && tokens >= MaxTokens / 2 && tokens + unit.ParagraphTokens > MaxTokens;
            if (newUnits > 0 && (full || paragraphBreak))
            {
                chunks.Add(Emit(current, position));
                current = Overlap(current, unit.Tokens);
                tokens = current.Sum(u => u.Tokens);
                newUnits = 0;
            }
            current.Add(unit);
            tokens += unit.Tokens;
            newUnits++;
        }
        if (newUnits > 0) chunks.Add(Emit(current, position));
        return chunks;
    }

    /// <summary>The last sentences of a chunk, at most the overlap in tokens, that leave room for the next unit.</summary>
    List<Unit> Overlap(List<Unit> previous, int next)
    {
        var tail = new List<Unit>();
        int tokens = 0;
        for (int i = previous.Count - 1; i >= 1; i--)
        {
            if (tokens + previous[i].Tokens > OverlapTokens || tokens + previous[i].Tokens + next > MaxTokens) break;
            tokens += previous[i].Tokens;
            tail.Insert(0, previous[i]);
        }
        return tail;
    }

    static TextChunk Emit(List<Unit> units, string position)
    {
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < units.Count; i++)
        {
            if (i > 0) text.Append(units[i].StartsParagraph ? "\n\n" : units[i].StartsLine ? "\n" : " ");
            text.Append(units[i].Text);
        }
        return new TextChunk(text.ToString(), position, units.Sum(u => u.Tokens));
    }

    /// <summary>Sentences (and over-long sentences' word runs), each marked with whether it starts a paragraph or line.</summary>
    List<Unit> Units(string text)
    {
        var units = new List<Unit>();
        foreach (var paragraph in ParagraphBreak().Split(text.Replace("\r\n", "\n")))
        {
            int first = units.Count;
            var lines = paragraph.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var line in lines)
            {
                bool lineStart = true;
                foreach (var sentence in SentenceBreak().Split(line).Where(s => s.Length > 0))
                    foreach (var piece in FitSentence(sentence))
                    {
                        units.Add(new Unit(piece.Text, piece.Tokens, StartsParagraph: units.Count == first, StartsLine: lineStart));
                        lineStart = false;
                    }
            }
            int paragraphTokens = units.Skip(first).Sum(u => u.Tokens);
            if (units.Count > first) units[first] = units[first] with { ParagraphTokens = paragraphTokens };
        }
        return units;
    }

    /// <summary>A sentence as it is, or cut between words into pieces that fit a chunk (a single over-long word is cut
    /// between characters).</summary>
    IEnumerable<(string Text, int Tokens)> FitSentence(string sentence)
    {
        int tokens = countTokens(sentence);
        if (tokens <= MaxTokens) { yield return (sentence, tokens); yield break; }
        var piece = new List<string>();
        int pieceTokens = 0;
        foreach (var word in sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries).SelectMany(SplitWord))
        {
            int wordTokens = countTokens(word);
            if (pieceTokens + wordTokens > MaxTokens && piece.Count > 0)
            {
                yield return (string.Join(' ', piece), pieceTokens);
                piece.Clear();
                pieceTokens = 0;
            }
            piece.Add(word);
            pieceTokens += wordTokens;
        }
        if (piece.Count > 0) yield return (string.Join(' ', piece), pieceTokens);
    }

    IEnumerable<string> SplitWord(string word)
    {
        if (countTokens(word) <= MaxTokens) { yield return word; yield break; }
        for (int start = 0; start < word.Length; start += MaxTokens) yield return word.Substring(start, Math.Min(MaxTokens, word.Length - start));
    }

    sealed record Unit(string Text, int Tokens, bool StartsParagraph, bool StartsLine)
    {
        /// <summary>On a paragraph's first unit: the whole paragraph's tokens.</summary>
        public int ParagraphTokens { get; init; } = Tokens;
    }

    [GeneratedRegex(@"\n[ \t]*\n\s*")]
    private static partial Regex ParagraphBreak();

    [GeneratedRegex(@"(?<=[.!?][""')\]]?)\s+(?=[""'(\[]?[A-Z0-9])")]
    private static partial Regex SentenceBreak();
}
