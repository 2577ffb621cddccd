namespace Substrate.Retrieval.Store;

/// <summary>
/// FTS5's BM25 top-k without scoring every match of a common word. FTS5 scores each row that matches any query word, so a
/// query holding "the" scores most of the store. Here the words are split MaxScore-style (Turtle &amp; Flood): a word can add
/// at most idf × (k1 + 1) to a score, so FTS5 ranks only the rows matching the rarest words E (few rows), the best
/// <c>depth</c> of them get their full score computed here, and the answer is accepted when the k-th full score beats
/// everything left out — a row matching no word of E scores at most Σ bound over the other words C, a row of E past the
/// depth at most its E score + that. Otherwise E takes the next word; with all words in E it is FTS5's own query.
/// Full scores repeat FTS5's bm25 (k1 = 1.2, b = 0.75, idf = ln((N − n + ½)/(n + ½)), 1e-6 when ≤ 0; term frequency per
/// query phrase, document length in tokens from FTS5's docsize, N and the average length from its averages record), summed
/// in the query's phrase order, so the ranking is FTS5's. Term frequencies come from FTS5's own tokenizer: the candidates'
/// text is put in an in-memory contentless scratch FTS5 table and read back through fts5vocab. Document frequencies are counted once
/// per word and kept until the store changes (<see cref="Invalidate"/>).
/// </summary>
internal sealed class Bm25TopK(ChunkStore store)
{
    const double K1 = 1.2, B = 0.75;
    const int MaxDepth = 2000;   // candidates rescored at most, before E takes another word
    const string Tokenizer = "porter unicode61";   // chunks_fts's, so the scratch table stems as the index does
    readonly Dictionary<string, long> documentFrequency = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> termOfWord = new(StringComparer.Ordinal);   // the tokenizer's, so never stale
    (long Rows, double AverageLength)? totals;
    bool scratchReady;

    /// <summary>Searches run, and how many of them were answered without scoring every match (for tests and benches).</summary>
    public (int Searches, int Pruned) Counts { get; private set; }

    /// <summary>Forgets cached counts (the store was written).</summary>
    public void Invalidate()
    {
        documentFrequency.Clear();
        totals = null;
    }

    /// <summary>The best <paramref name="top"/> (id, score) pairs, score = −bm25 (higher is better), ties to the lower id.</summary>
    public List<(long Id, double Score)> Search(IReadOnlyList<string> words, int top, string? pathPrefix)
    {
        Counts = (Counts.Searches + 1, Counts.Pruned);
        var terms = Stems(words);
        if (terms is null) return store.Bm25Reference(words, top, pathPrefix);   // a word FTS5 reads as several tokens
        var (rows, averageLength) = totals ??= ReadTotals();
        var idf = terms.Select(t => Idf(rows, DocumentFrequency(t.Word, t.Term))).ToArray();
        var byBound = Enumerable.Range(0, words.Count).OrderByDescending(i => idf[i]).ThenBy(i => i).ToArray();
        int depth = Math.Max(2 * top, top + 20), m = 1;
        while (m < words.Count)
        {
            var essential = byBound.Take(m).ToArray();
            double boundOthers = byBound.Skip(m).Sum(i => idf[i] * (K1 + 1));
            var candidates = store.Bm25Reference(essential.Select(i => words[i]).ToList(), depth, pathPrefix);
            var scored = FullScores(candidates.Select(c => c.Id).ToList(), terms.Select(t => t.Term).ToList(), idf, averageLength);
            scored.Sort((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Id.CompareTo(b.Id));
            double kth = scored.Count >= top ? scored[top - 1].Score : double.NegativeInfinity;
            double leftOut = candidates.Count < depth ? boundOthers : candidates[^1].Score + boundOthers;
            if (kth > leftOut)
            {
                Counts = (Counts.Searches, Counts.Pruned + 1);
                return scored.Take(top).ToList();
            }
            // The k-th beats rows without a word of E but not E's rows past the depth (often ties of E's score): look deeper
            // before widening E, which costs a scan of a commoner word.
            if (kth > boundOthers && depth < MaxDepth) depth *= 4;
            else m++;
        }
        return store.Bm25Reference(words, top, pathPrefix);
    }

    static double Idf(long rows, long hits)
    {
        double idf = Math.Log((rows - hits + 0.5) / (hits + 0.5));
        return idf <= 0.0 ? 1e-6 : idf;
    }

    /// <summary>FTS5's bm25 of each candidate, phrases summed in query order as fts5Bm25Function does.</summary>
    List<(long Id, double Score)> FullScores(List<long> ids, List<string> terms, double[] idf, double averageLength)
    {
        var frequencies = TermFrequencies(ids, terms.Distinct().ToList());
        var lengths = DocumentLengths(ids);
        var scored = new List<(long, double)>(ids.Count);
        foreach (var id in ids)
        {
            double length = lengths[id], score = 0;
            for (int i = 0; i < terms.Count; i++)
            {
                double tf = frequencies.GetValueOrDefault((id, terms[i]));
                score += idf[i] * (tf * (K1 + 1.0) / (tf + K1 * (1 - B + B * length / averageLength)));
            }
            scored.Add((id, score));
        }
        return scored;
    }

    /// <summary>(id, term) → occurrences, from the candidates' text tokenized by FTS5 in the scratch table.</summary>
    Dictionary<(long, string), double> TermFrequencies(List<long> ids, List<string> terms)
    {
        var frequencies = new Dictionary<(long, string), double>();
        if (ids.Count == 0) return frequencies;
        EnsureScratch();
        Run("INSERT INTO temp.bm25_scratch(bm25_scratch) VALUES ('delete-all')");
        Run($"INSERT INTO temp.bm25_scratch(rowid, text) SELECT id, text FROM chunks WHERE id IN ({string.Join(',', ids)})");
        using var command = store.Command($"""
            SELECT doc, term, count(*) FROM temp.bm25_scratch_terms
            WHERE term IN ({string.Join(',', terms.Select((_, i) => "$t" + i))}) GROUP BY doc, term
            """);
        ChunkStore.Bind(command, terms.Select((t, i) => ("$t" + i, (object)t)).ToArray());
        using var reader = command.ExecuteReader();
        while (reader.Read()) frequencies[(reader.GetInt64(0), reader.GetString(1))] = reader.GetInt64(2);
        return frequencies;
    }

    /// <summary>Each word's FTS5 term (stemmed), in order; null when a word is not exactly one token.</summary>
    List<(string Word, string Term)>? Stems(IReadOnlyList<string> words)
    {
        var unknown = words.Where(w => !termOfWord.ContainsKey(w)).ToList();
        if (unknown.Count > 0)
        {
            EnsureScratch();
            Run("INSERT INTO temp.bm25_scratch(bm25_scratch) VALUES ('delete-all')");
            using (var insert = store.Command("INSERT INTO temp.bm25_scratch(rowid, text) VALUES (0, $t)"))
            {
                ChunkStore.Bind(insert, ("$t", string.Join(' ', unknown)));
                insert.ExecuteNonQuery();
            }
            var terms = new string?[unknown.Count];
            using var command = store.Command("SELECT term, offset FROM temp.bm25_scratch_terms");
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                int offset = reader.GetInt32(1);
                if (offset >= terms.Length || terms[offset] is not null) return null;
                terms[offset] = reader.GetString(0);
            }
            if (terms.Any(t => t is null)) return null;
            for (int i = 0; i < unknown.Count; i++) termOfWord[unknown[i]] = terms[i]!;
        }
        return words.Select(w => (w, termOfWord[w])).ToList();
    }

    long DocumentFrequency(string word, string term)
    {
        if (documentFrequency.TryGetValue(term, out var hits)) return hits;
        using var command = store.Command("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH $q");
        ChunkStore.Bind(command, ("$q", ChunkStore.Phrase(word)));
        return documentFrequency[term] = Convert.ToInt64(command.ExecuteScalar());
    }

    /// <summary>Tokens in each candidate, as FTS5 counted them (chunks_fts_docsize: one varint a column).</summary>
    Dictionary<long, double> DocumentLengths(List<long> ids)
    {
        var lengths = new Dictionary<long, double>();
        if (ids.Count == 0) return lengths;
        using var command = store.Command($"SELECT id, sz FROM chunks_fts_docsize WHERE id IN ({string.Join(',', ids)})");
        using var reader = command.ExecuteReader();
        while (reader.Read()) lengths[reader.GetInt64(0)] = Varint((byte[])reader.GetValue(1), 0).Value;
        return lengths;
    }

    /// <summary>N and the average document length from FTS5's averages record (chunks_fts_data id 1: varint rows, varint
    /// tokens a column).</summary>
    (long, double) ReadTotals()
    {
        using var command = store.Command("SELECT block FROM chunks_fts_data WHERE id = 1");
        if (command.ExecuteScalar() is not byte[] block) return (0, 0);
        var rows = Varint(block, 0);
        var tokens = Varint(block, rows.Next);
        return (rows.Value, rows.Value == 0 ? 0 : (double)tokens.Value / rows.Value);
    }

    /// <summary>An SQLite varint (big-endian 7-bit groups, the ninth byte whole).</summary>
    static (long Value, int Next) Varint(byte[] bytes, int at)
    {
        long value = 0;
        for (int i = 0; i < 9 && at + i < bytes.Length; i++)
        {
            byte b = bytes[at + i];
            if (i == 8) return ((value << 8) | b, at + 9);
            value = (value << 7) | (uint)(b & 0x7f);
            if ((b & 0x80) == 0) return (value, at + i + 1);
        }
        throw new InvalidDataException("truncated varint in the FTS5 index");
    }

    void EnsureScratch()
    {
        if (scratchReady) return;
        Run($"""
            PRAGMA temp_store = MEMORY;
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_scratch USING fts5(text, content='', tokenize='{Tokenizer}');
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_scratch_terms USING fts5vocab(temp, bm25_scratch, instance);
            """);
        scratchReady = true;
    }

    void Run(string sql)
    {
        using var command = store.Command(sql);
        command.ExecuteNonQuery();
    }
}
