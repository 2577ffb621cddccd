using Microsoft.Data.Sqlite;

namespace Substrate.Retrieval.Store;

/// <summary>
/// Our own BM25 postings in the store's file, beside FTS5's index (which still answers phrase-free matching, snippets and
/// path-filtered queries): <c>bm25_terms</c> (term → rows holding it, the idf's n, read in one lookup instead of walking a
/// list) and <c>bm25_postings</c> (term, last id → a <see cref="PostingBlock"/> with its largest frequency and shortest
/// length). A document write changes them in its own transaction (<see cref="Apply"/>), so a crash leaves them in step
/// with the chunks; <c>meta.bm25_postings</c> records FTS5's row and token totals as of our last change, so a store
/// written by code that did not keep the postings is seen as stale and rebuilt (<see cref="Build"/>) on its next
/// read-write open.
/// </summary>
internal sealed class Bm25Postings(ChunkStore store)
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS bm25_terms(term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS bm25_postings(term TEXT NOT NULL, last_id INTEGER NOT NULL, max_frequency INTEGER NOT NULL,
            min_length INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (term, last_id)) WITHOUT ROWID;
        """;

    readonly Fts5Terms terms = new(store);

    public Fts5Terms Terms => terms;

    /// <summary>Searches answered from the postings, and how many of them left some row unscored (for tests and benches).</summary>
    public (int Searches, int Pruned) Counts { get; private set; }

    public void Counted(bool pruned) => Counts = (Counts.Searches + 1, Counts.Pruned + (pruned ? 1 : 0));

    /// <summary>FTS5's rows and tokens (its averages record), the N and avgdl of its bm25.</summary>
    public (long Rows, long Tokens) Totals()
    {
        using var command = store.Command("SELECT block FROM chunks_fts_data WHERE id = 1");
        if (command.ExecuteScalar() is not byte[] record || record.Length == 0) return (0, 0);
        int at = 0;
        long rows = Bm25Scoring.ReadSqliteVarint(record, ref at);
        return (rows, at < record.Length ? Bm25Scoring.ReadSqliteVarint(record, ref at) : 0);
    }

    /// <summary>Whether the postings were last changed at FTS5's current totals (so they hold what FTS5 holds).</summary>
    public bool InStep() => store.GetMeta("bm25_postings") == Stamp(Totals());

    /// <summary>Inside a write's transaction, after its chunk rows changed: drops the removed rows' postings and adds the new.</summary>
    public void Apply(IReadOnlyList<(long Id, string Text)> removed, IReadOnlyList<(long Id, string Text)> added)
    {
        var (gone, _) = terms.Split(removed);
        var (come, lengths) = terms.Split(added);
        using var statements = new Statements(store);
        foreach (var term in gone.Keys.Union(come.Keys, StringComparer.Ordinal))
        {
            var drop = gone.TryGetValue(term, out var g) ? g.Select(p => p.Key).ToHashSet() : [];
            var add = come.TryGetValue(term, out var c) ? c.Select(p => new Posting(p.Key, p.Count, lengths[p.Key])).ToList() : [];
            Change(statements, term, drop, add);
        }
        store.SetMeta("bm25_postings", Stamp(Totals()));
    }

    /// <summary>Rewrites the blocks of <paramref name="term"/> that the change touches (from the block before the lowest
    /// id changed, so an append refills the last block) and its row count.</summary>
    static void Change(Statements statements, string term, HashSet<long> drop, List<Posting> add)
    {
        long low = Math.Min(drop.Count > 0 ? drop.Min() : long.MaxValue, add.Count > 0 ? add[0].Id : long.MaxValue);
        long high = Math.Max(drop.Count > 0 ? drop.Max() : 0, add.Count > 0 ? add[^1].Id : 0);
        var merged = new List<Posting>();
        var read = new List<Posting>();
        var oldBlocks = new List<long>();
        {
            ChunkStore.Bind(statements.Select, ("$t", term), ("$low", low));
            using var reader = statements.Select.ExecuteReader();
            while (reader.Read())
            {
                oldBlocks.Add(reader.GetInt64(0));
                PostingBlock.Decode((byte[])reader.GetValue(1), read);
                merged.AddRange(read);
                if (oldBlocks[^1] >= high) break;
            }
        }
        int before = merged.Count;
        merged.RemoveAll(p => drop.Contains(p.Id));
        long change = merged.Count - before + add.Count;
        merged = Merge(merged, add);
        foreach (var last in oldBlocks)
        {
            ChunkStore.Bind(statements.Delete, ("$t", term), ("$l", last));
            statements.Delete.ExecuteNonQuery();
        }
        WriteBlocks(statements.Insert, term, merged);
        ChunkStore.Bind(statements.Count, ("$t", term), ("$d", change));
        statements.Count.ExecuteNonQuery();
        if (drop.Count == 0) return;
        ChunkStore.Bind(statements.Prune, ("$t", term));
        statements.Prune.ExecuteNonQuery();
    }

    /// <summary>The statements a write runs for each term, prepared once a write (not once a term: a document has thousands).</summary>
    sealed class Statements(ChunkStore store) : IDisposable
    {
        public readonly SqliteCommand Select = store.Command("""
            SELECT last_id, data FROM bm25_postings WHERE term = $t AND last_id >=
                (SELECT coalesce(max(last_id), 0) FROM bm25_postings WHERE term = $t AND last_id < $low) ORDER BY last_id
            """);
        public readonly SqliteCommand Delete = store.Command("DELETE FROM bm25_postings WHERE term = $t AND last_id = $l");
        public readonly SqliteCommand Insert = store.Command(
            "INSERT INTO bm25_postings(term, last_id, max_frequency, min_length, data) VALUES ($t, $l, $f, $n, $d)");
        public readonly SqliteCommand Count = store.Command(
            "INSERT INTO bm25_terms(term, docs) VALUES ($t, $d) ON CONFLICT(term) DO UPDATE SET docs = docs + excluded.docs");
        public readonly SqliteCommand Prune = store.Command("DELETE FROM bm25_terms WHERE term = $t AND docs <= 0");

        public void Dispose()
        {
            foreach (var command in new[] { Select, Delete, Insert, Count, Prune }) command.Dispose();
        }
    }

    static List<Posting> Merge(List<Posting> kept, List<Posting> add)
    {
        if (add.Count == 0) return kept;
        if (kept.Count == 0 || kept[^1].Id < add[0].Id) return [.. kept, .. add];
        return kept.Concat(add).OrderBy(p => p.Id).ToList();
    }

    static void WriteBlocks(SqliteCommand insert, string term, List<Posting> postings)
    {
        var all = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(postings);
        for (int start = 0; start < all.Length; start += PostingBlock.Capacity)
        {
            var block = all.Slice(start, Math.Min(PostingBlock.Capacity, all.Length - start));
            int maxFrequency = 0, minLength = int.MaxValue;
            foreach (var p in block) (maxFrequency, minLength) = (Math.Max(maxFrequency, p.Frequency), Math.Min(minLength, p.Length));
            ChunkStore.Bind(insert, ("$t", term), ("$l", block[^1].Id), ("$f", maxFrequency), ("$n", minLength),
                ("$d", PostingBlock.Encode(block)));
            insert.ExecuteNonQuery();
        }
    }

    /// <summary>Inside a transaction: rebuilds every posting from FTS5's own index (its fts5vocab 'instance' rows, term by
    /// term, rows ascending) and row lengths (its docsize table), for a store made before the postings or written without them.</summary>
    public void Build()
    {
        using (var clear = store.Command("""
            DELETE FROM bm25_terms; DELETE FROM bm25_postings;
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_main_rows USING fts5vocab('main', 'chunks_fts', 'row');
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_main_instances USING fts5vocab('main', 'chunks_fts', 'instance');
            """)) clear.ExecuteNonQuery();
        var lengths = new Dictionary<long, int>();
        using (var sizes = store.Command("SELECT id, sz FROM chunks_fts_docsize"))
        using (var reader = sizes.ExecuteReader())
            while (reader.Read())
            {
                int at = 0;
                lengths[reader.GetInt64(0)] = (int)Bm25Scoring.ReadSqliteVarint((byte[])reader.GetValue(1), ref at);
            }
        var words = new List<string>();
        using (var vocabulary = store.Command("SELECT term FROM temp.bm25_main_rows"))
        using (var reader = vocabulary.ExecuteReader())
            while (reader.Read()) words.Add(reader.GetString(0));
        using var instances = store.Command("SELECT doc FROM temp.bm25_main_instances WHERE term = $t");
        using var statements = new Statements(store);
        var postings = new List<Posting>();
        foreach (var term in words)
        {
            postings.Clear();
            ChunkStore.Bind(instances, ("$t", term));
            using (var reader = instances.ExecuteReader())
                while (reader.Read())
                {
                    long id = reader.GetInt64(0);
                    if (postings.Count > 0 && postings[^1].Id == id) postings[^1] = postings[^1] with { Frequency = postings[^1].Frequency + 1 };
                    else postings.Add(new Posting(id, 1, lengths[id]));
                }
            if (postings.Count == 0) continue;
            WriteBlocks(statements.Insert, term, postings);
            ChunkStore.Bind(statements.Count, ("$t", term), ("$d", postings.Count));
            statements.Count.ExecuteNonQuery();
        }
        store.SetMeta("bm25_postings", Stamp(Totals()));
    }

    static string Stamp((long Rows, long Tokens) totals) => $"{totals.Rows} rows, {totals.Tokens} tokens";
}
