namespace Substrate.Retrieval.Store;

/// <summary>
/// BM25 top-k over our postings (<see cref="Bm25Postings"/>) by MaxScore (Turtle &amp; Flood) with block-max bounds (Ding
/// &amp; Suel): phrases are ordered by the most they can add (idf × (k1 + 1)); once the k-th best score θ reaches the sum
/// of the smallest bounds, those phrases become non-essential — a row holding only them cannot enter — so candidates come
/// from the essential lists alone and the others are only probed (a skip by block header, no decoding of passed blocks),
/// and a probe stops once what is left cannot lift the row past θ. A candidate whose essential blocks' bounds plus the
/// non-essential bounds cannot pass θ is dropped before any probe. A row that enters is scored in the query's phrase order
/// (<see cref="Bm25Scoring"/>), so its score is FTS5's to the last bit; rows come in id order and must beat θ strictly, so
/// ties go to the lower id as in FTS5's <c>ORDER BY bm25, rowid</c>.
/// </summary>
internal static class Bm25MaxScore
{
    /// <param name="phrases">each phrase's term and idf, in the query's order (a term may appear twice)</param>
    /// <returns>the best rows (−bm25, higher first) and whether some matching row was left unscored</returns>
    public static (List<(long Id, double Score)> Found, bool Pruned) Search(ChunkStore store, IReadOnlyList<(string Term, double Idf)> phrases,
        double averageLength, int top)
    {
        var cursors = phrases.Select(p => new PostingCursor(store, p.Term, p.Idf, averageLength)).ToArray();
        try
        {
            return Search(cursors, top);
        }
        finally
        {
            foreach (var c in cursors) c.Dispose();
        }
    }

    static (List<(long Id, double Score)>, bool) Search(PostingCursor[] cursors, int top)
    {
        int n = cursors.Length;
        var order = Enumerable.Range(0, n).OrderBy(i => cursors[i].Bound).ToArray();
        var below = new double[n + 1];   // below[j] = Σ bounds of order[0..j)
        for (int j = 0; j < n; j++) below[j + 1] = below[j] + cursors[order[j]].Bound;
        var best = new PriorityQueue<(long Id, double Score), (double, long)>();
        double threshold = double.NegativeInfinity;
        int firstEssential = 0;
        var found = new Posting?[n];
        bool pruned = false;
        while (true)
        {
            long id = long.MaxValue;
            for (int j = firstEssential; j < n; j++) id = Math.Min(id, cursors[order[j]].Id);
            if (id == long.MaxValue) break;
            Array.Clear(found);
            double partial = 0, blocks = below[firstEssential];
            for (int j = firstEssential; j < n; j++)
                if (cursors[order[j]].Id == id) blocks += cursors[order[j]].BlockBound;
            bool full = best.Count == top;
            for (int j = firstEssential; j < n; j++)
            {
                var c = cursors[order[j]];
                if (c.Id != id) continue;
                if (!full || blocks > threshold)
                {
                    found[order[j]] = c.Current;
                    partial += c.Score(c.Current);
                }
                c.Next();
            }
            if (full && blocks <= threshold)
            {
                pruned = true;
                continue;
            }
            bool dropped = false;
            for (int j = firstEssential - 1; j >= 0 && !dropped; j--)
            {
                if (full && partial + below[j + 1] <= threshold) dropped = true;
                else
                {
                    var c = cursors[order[j]];
                    c.SkipTo(id);
                    if (c.Id == id)
                    {
                        found[order[j]] = c.Current;
                        partial += c.Score(c.Current);
                    }
                }
            }
            pruned |= dropped;
            if (dropped) continue;
            double score = 0;   // in phrase order, as FTS5 sums
            for (int i = 0; i < n; i++) if (found[i] is { } p) score += cursors[i].Score(p);
            if (full && score <= threshold) continue;
            if (full) best.Dequeue();
            best.Enqueue((id, score), (score, -id));
            if (best.Count == top)
            {
                threshold = best.Peek().Score;
                while (firstEssential < n && below[firstEssential + 1] <= threshold) firstEssential++;
            }
        }
        var result = new List<(long Id, double Score)>(best.Count);
        while (best.Count > 0) result.Add(best.Dequeue());
        result.Reverse();
        return (result, pruned || firstEssential > 0);
    }
}
