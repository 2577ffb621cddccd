namespace Substrate.Retrieval.Store;

/// <summary>
/// FTS5's BM25 top-k without scoring every match of a common word. FTS5's plain query (the words OR-ed) scores each row that
/// matches any word, so a query holding "the" scores most of the store. Here the words are split MaxScore-style (Turtle &amp;
/// Flood): a word adds at most idf × (k1 + 1) to a score (k1 = 1.2; idf = ln((N − n + ½)/(n + ½)), 1e-6 when ≤ 0), so with
/// E the rarest words and C the rest, a row matching no word of E scores at most Σ idf × (k1 + 1) over C. FTS5 ranks the
/// rows of E in two queries: <c>E AND (C)</c> holds every phrase, so its bm25 is the full query's, while FTS5 walks only
/// E's rows and seeks into C's; <c>E</c> alone gives the rows without C their full score (a phrase absent from a row adds
/// 0). A row of both whose E score stands in for its higher full score is not in <c>E AND (C)</c>'s best k, so k rows beat
/// it either way; a row of E alone past E's best k is beaten by those k. When the k-th best of the merge beats the bound
/// of the rows left out, it is the answer; otherwise E takes the next word while E stays rare,
/// and past that it is FTS5's plain query. Document frequencies for the bound are counted once per word and kept until
/// the store changes (<see cref="Invalidate"/>).
/// </summary>
internal sealed class Bm25TopK(ChunkStore store)
{
    const double K1 = 1.2;
    const int RareShare = 8;   // E is "rare" while its rows are at most 1/8 of the store; past that the plain query is as cheap
    const int MaxTries = 8;    // splits tried (two queries each) before the plain query: a long query must not cost O(words²) queries
    readonly Dictionary<string, long> documentFrequency = new(StringComparer.Ordinal);
    long? rows;

    /// <summary>Searches run, and how many of them were answered without scoring every match (for tests and benches).</summary>
    public (int Searches, int Pruned) Counts { get; private set; }

    /// <summary>Forgets cached counts (the store was written).</summary>
    public void Invalidate()
    {
        documentFrequency.Clear();
        rows = null;
    }

    /// <summary>The best <paramref name="top"/> (id, score) pairs, score = −bm25 (higher is better), ties to the lower id.</summary>
    public List<(long Id, double Score)> Search(IReadOnlyList<string> words, int top, string? pathPrefix)
    {
        Counts = (Counts.Searches + 1, Counts.Pruned);
        long n = rows ??= Convert.ToInt64(Scalar("SELECT count(*) FROM chunks"));
        // A word no row holds matches nothing and adds 0 to every score: dropping it changes no rank or score, and a long
        // query of unknown words would otherwise try a split per word (minutes for a few thousand words).
        words = words.Where(w => DocumentFrequency(w) > 0).ToList();
        if (words.Count == 0) return [];
        var hits = words.Select(DocumentFrequency).ToArray();
        var byRarity = Enumerable.Range(0, words.Count).OrderBy(i => hits[i]).ThenBy(i => i).ToArray();
        long essentialRows = 0;
        for (int m = 1; m < words.Count && m <= MaxTries; m++)
        {
            essentialRows += hits[byRarity[m - 1]];
            if (essentialRows > n / RareShare) break;
            double boundOthers = byRarity.Skip(m).Sum(i => Idf(n, hits[i]) * (K1 + 1));
            var e = Any(byRarity.Take(m).Select(i => words[i]));
            var c = Any(byRarity.Skip(m).Select(i => words[i]));
            var withOthers = store.Bm25Ranked($"({e}) AND ({c})", top, pathPrefix);
            var seen = withOthers.Select(f => f.Id).ToHashSet();
            var found = withOthers.Concat(store.Bm25Ranked(e, top, pathPrefix).Where(f => !seen.Contains(f.Id)))
                .OrderByDescending(f => f.Score).ThenBy(f => f.Id).Take(top).ToList();
            if (found.Count == top && found[^1].Score > boundOthers)
            {
                Counts = (Counts.Searches, Counts.Pruned + 1);
                return found;
            }
        }
        return store.Bm25Reference(words, top, pathPrefix);
    }

    static string Any(IEnumerable<string> words) => string.Join(" OR ", words.Select(ChunkStore.Phrase));

    /// <summary>FTS5's idf (fts5Bm25GetData).</summary>
    static double Idf(long rows, long hits)
    {
        double idf = Math.Log((rows - hits + 0.5) / (hits + 0.5));
        return idf <= 0.0 ? 1e-6 : idf;
    }

    long DocumentFrequency(string word)
    {
        if (documentFrequency.TryGetValue(word, out var hits)) return hits;
        using var command = store.Command("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH $q");
        ChunkStore.Bind(command, ("$q", ChunkStore.Phrase(word)));
        return documentFrequency[word] = Convert.ToInt64(command.ExecuteScalar());
    }

    object? Scalar(string sql)
    {
        using var command = store.Command(sql);
        return command.ExecuteScalar();
    }
}
