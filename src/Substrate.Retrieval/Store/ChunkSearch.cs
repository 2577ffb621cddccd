using System.Text.RegularExpressions;

namespace Substrate.Retrieval.Store;

public sealed partial class ChunkStore
{
    /// <summary>Reciprocal rank fusion's constant: a hit's fused score is Σ 1 / (k + rank) over the lists it is in.</summary>
    public const int RrfK = 60;

    /// <summary>The best <paramref name="top"/> chunks for a query by FTS5's BM25 (the query's words, any of them;
    /// Porter-stemmed), restricted to paths under <paramref name="pathPrefix"/> if given. Score: −bm25, higher is better;
    /// ties go to the lower id. Rows matching only common words are not scored when they cannot make the top (<see cref="Bm25TopK"/>).</summary>
    public List<SearchHit> SearchBm25(string query, int top, string? pathPrefix = null)
    {
        var words = Word().Matches(query).Select(m => m.Value).Distinct().ToList();
        if (words.Count == 0 || top <= 0) return [];
        ForgetIfWrittenElsewhere();
        var found = (pathPrefix is null ? SearchPostings(words, top) : null) ?? (bm25 ??= new Bm25TopK(this)).Search(words, top, pathPrefix);
        var chunks = GetChunks(found.Select(f => f.Id).ToList());
        return chunks.Select((c, i) => new SearchHit(c, i + 1, found[i].Score)).ToList();
    }

    /// <summary>The BM25 top-k from our postings (<see cref="Bm25MaxScore"/>); null where they cannot answer — not kept by
    /// this connection or out of step with FTS5, or a word FTS5 splits into more than one term (a phrase query) — and FTS5
    /// answers instead.</summary>
    List<(long Id, double Score)>? SearchPostings(IReadOnlyList<string> words, int top)
    {
        if (postings is null || !postings.InStep() || postings.Terms.OfWords(words) is not { } terms || terms.Any(t => t.Count > 1)) return null;
        var (rows, tokens) = postings.Totals();
        var phrases = new List<(string Term, double Idf)>();
        using (var count = Command("SELECT docs FROM bm25_terms WHERE term = $t"))
            foreach (var term in terms.Where(t => t.Count == 1).Select(t => t[0]))
            {
                Bind(count, ("$t", term));
                // A term no row holds adds 0 to every score (as in Bm25TopK): dropped.
                if (count.ExecuteScalar() is long hits && hits > 0) phrases.Add((term, Bm25Scoring.Idf(rows, hits)));
            }
        var (found, pruned) = phrases.Count == 0 ? ([], false) : Bm25MaxScore.Search(this, phrases, tokens / (double)rows, top);
        postings.Counted(pruned);
        return found;
    }

    /// <summary>BM25 searches run by this store, and how many were answered without scoring every match.</summary>
    public (int Searches, int Pruned) Bm25Counts() =>
        ((bm25?.Counts.Searches ?? 0) + (postings?.Counts.Searches ?? 0), (bm25?.Counts.Pruned ?? 0) + (postings?.Counts.Pruned ?? 0));

    /// <summary>FTS5 ranks every row matching any of <paramref name="words"/> (the plain query, the reference the pruned
    /// search is tested against): the best <paramref name="top"/> ids with −bm25, ties to the lower id.</summary>
    internal List<(long Id, double Score)> Bm25Reference(IReadOnlyList<string> words, int top, string? pathPrefix) =>
        Bm25Ranked(string.Join(" OR ", words.Select(Phrase)), top, pathPrefix);

    /// <summary>The best <paramref name="top"/> rows matching an FTS5 expression, by bm25 over its phrases (−bm25, ties to the lower id).</summary>
    internal List<(long Id, double Score)> Bm25Ranked(string match, int top, string? pathPrefix)
    {
        using var command = Command(pathPrefix is null
            ? "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH $q ORDER BY bm25(chunks_fts), rowid LIMIT $k"
            : """
              SELECT chunks_fts.rowid, -bm25(chunks_fts) FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid
              WHERE chunks_fts MATCH $q AND substr(c.path, 1, length($prefix)) = $prefix ORDER BY bm25(chunks_fts), chunks_fts.rowid LIMIT $k
              """);
        Bind(command, ("$q", match), ("$prefix", (object?)pathPrefix ?? DBNull.Value), ("$k", top));
        using var reader = command.ExecuteReader();
        var found = new List<(long, double)>();
        while (reader.Read()) found.Add((reader.GetInt64(0), reader.GetDouble(1)));
        return found;
    }

    /// <summary>A word as an FTS5 phrase (words are letters and digits only, so quoting is enough).</summary>
    internal static string Phrase(string word) => "\"" + word + "\"";

    /// <summary>The best chunks by cosine similarity to an L2-normalised query vector (exact search).</summary>
    public List<SearchHit> SearchVector(ReadOnlySpan<float> query, int top, string? pathPrefix = null)
    {
        var found = Vectors().Search(query, top, pathPrefix);
        var chunks = GetChunks(found.Select(f => f.Id).ToList());
        return chunks.Select((c, i) => new SearchHit(c, i + 1, found[i].Score) { Similarity = found[i].Score }).ToList();
    }

    /// <summary>Both searches, each <paramref name="depth"/> deep, fused by reciprocal rank (k = 60); ties go to the lower id.
    /// Each hit carries its cosine similarity to <paramref name="vector"/>, found by BM25 alone or not.</summary>
    public List<SearchHit> SearchHybrid(string query, ReadOnlySpan<float> vector, int top, string? pathPrefix = null, int depth = 50)
    {
        depth = Math.Max(depth, top);
        var lists = new[] { SearchVector(vector, depth, pathPrefix), SearchBm25(query, depth, pathPrefix) };
        var fused = new Dictionary<long, (StoredChunk Chunk, double Score)>();
        foreach (var hit in lists.SelectMany(l => l))
        {
            var score = 1.0 / (RrfK + hit.Rank);
            fused[hit.Chunk.Id] = fused.TryGetValue(hit.Chunk.Id, out var f) ? (f.Chunk, f.Score + score) : (hit.Chunk, score);
        }
        var best = fused.Values.OrderByDescending(f => f.Score).ThenBy(f => f.Chunk.Id).Take(top).ToList();
        // The vector list holds the cosines of most; only chunks BM25 alone found cost a pass over the index's ids.
        var similarity = lists[0].ToDictionary(h => h.Chunk.Id, h => h.Score);
        var missing = best.Select(f => f.Chunk.Id).Where(id => !similarity.ContainsKey(id)).ToHashSet();
        if (missing.Count > 0) foreach (var (id, cosine) in Vectors().Similarities(vector, missing)) similarity[id] = cosine;
        return best.Select((f, i) => new SearchHit(f.Chunk, i + 1, f.Score)
            { Similarity = similarity.TryGetValue(f.Chunk.Id, out var cosine) ? cosine : null }).ToList();
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Word();
}
