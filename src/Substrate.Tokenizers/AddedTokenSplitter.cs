namespace Substrate.Tokenizers;

/// <summary>
/// Cuts text into runs of ordinary text and added tokens: at each position the longest added token
/// that starts there wins (leftmost-longest, as HF tokenizers' Aho-Corasick matcher).
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Dictionary<char, AddedToken[]> _allByFirstChar;
    private readonly Dictionary<char, AddedToken[]> _nonSpecialByFirstChar;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        var all = tokens.Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ToArray();
        _allByFirstChar = Index(all);
        _nonSpecialByFirstChar = Index(all.Where(t => !t.Special));
    }

    private static Dictionary<char, AddedToken[]> Index(IEnumerable<AddedToken> tokens) =>
        tokens.GroupBy(t => t.Content[0]).ToDictionary(g => g.Key, g => g.ToArray());

    /// <summary>A run of text (<see cref="Token"/> null) or one added token, by position in the text.</summary>
    public readonly record struct Segment(int Start, int Length, AddedToken? Token);

    /// <summary>True when no added token can match, so the whole text is one run.</summary>
    public bool MatchesNothing(bool withSpecial) => (withSpecial ? _allByFirstChar : _nonSpecialByFirstChar).Count == 0;

    /// <summary>Appends the segments of <paramref name="text"/>, in order; text runs are never empty.</summary>
    public void Split(ReadOnlySpan<char> text, bool withSpecial, List<Segment> segments)
    {
        var index = withSpecial ? _allByFirstChar : _nonSpecialByFirstChar;
        int runStart = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (!index.TryGetValue(text[i], out var candidates)) continue;
            AddedToken? match = null;
            foreach (var t in candidates)
            {
                if (text.Slice(i).StartsWith(t.Content, StringComparison.Ordinal)) { match = t; break; }
            }
            if (match is null) continue;
            if (i > runStart) segments.Add(new Segment(runStart, i - runStart, null));
            segments.Add(new Segment(i, match.Content.Length, match));
            i += match.Content.Length - 1;
            runStart = i + 1;
        }
        if (runStart < text.Length) segments.Add(new Segment(runStart, text.Length - runStart, null));
    }
}
