using Microsoft.Data.Sqlite;

namespace Substrate.Retrieval.Store;

/// <summary>
/// Texts split into terms by FTS5's own tokenizer (porter unicode61, as <c>chunks_fts</c> is declared), so our postings
/// hold exactly the terms FTS5 indexes and a query word maps to the term FTS5 would look up. The texts go through a scratch
/// FTS5 table in this connection's temp schema, read back through an fts5vocab 'instance' table (term, row, offset) and
/// emptied; inside a write's transaction it rolls back with it.
/// </summary>
internal sealed class Fts5Terms(ChunkStore store)
{
    bool created;

    const string Create = """
        CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_scratch USING fts5(text, tokenize='porter unicode61');
        CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_scratch_terms USING fts5vocab('temp', 'bm25_scratch', 'instance');
        """;

    /// <summary>Per term, the (row key, count) pairs of the rows holding it, keys ascending; and each row's tokens.</summary>
    public (SortedDictionary<string, List<(long Key, int Count)>> Terms, Dictionary<long, int> Lengths) Split(
        IReadOnlyList<(long Key, string Text)> texts)
    {
        var terms = new SortedDictionary<string, List<(long, int)>>(StringComparer.Ordinal);
        var lengths = new Dictionary<long, int>();
        if (texts.Count == 0) return (terms, lengths);
        Prepare();
        using (var insert = store.Command("INSERT INTO temp.bm25_scratch(rowid, text) VALUES ($k, $t)"))
        {
            foreach (var (key, text) in texts)
            {
                ChunkStore.Bind(insert, ("$k", key), ("$t", text));
                insert.ExecuteNonQuery();
                lengths[key] = 0;
            }
        }
        using (var read = store.Command("SELECT term, doc FROM temp.bm25_scratch_terms"))
        using (var reader = read.ExecuteReader())
        {
            // Rows come by term, then row, then offset: a run of one (term, row) is that term's count in the row.
            while (reader.Read())
            {
                string term = reader.GetString(0);
                long key = reader.GetInt64(1);
                if (!terms.TryGetValue(term, out var list)) terms[term] = list = [];
                if (list.Count > 0 && list[^1].Item1 == key) list[^1] = (key, list[^1].Item2 + 1);
                else list.Add((key, 1));
                lengths[key]++;
            }
        }
        using (var clear = store.Command("DELETE FROM temp.bm25_scratch")) clear.ExecuteNonQuery();
        return (terms, lengths);
    }

    /// <summary>The terms of each word (one for a plain word); null where this connection cannot make the scratch table.</summary>
    public List<string>[]? OfWords(IReadOnlyList<string> words)
    {
        try
        {
            var (terms, _) = Split(words.Select((w, i) => ((long)i + 1, w)).ToList());
            var of = words.Select(_ => new List<string>()).ToArray();
            foreach (var (term, keys) in terms) foreach (var (key, _) in keys) of[key - 1].Add(term);
            return of;
        }
        catch (SqliteException)
        {
            return null;   // e.g. a read-only connection that may not write its temp schema
        }
    }

    void Prepare()
    {
        if (created) return;
        using var command = store.Command(Create);
        command.ExecuteNonQuery();
        created = true;
    }
}
