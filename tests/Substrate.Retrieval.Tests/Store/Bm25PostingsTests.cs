using Microsoft.Data.Sqlite;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Store;

/// <summary>BM25 from our own postings (<see cref="Bm25Postings"/>, <see cref="Bm25MaxScore"/>) against FTS5's plain query on
/// a seeded Zipf-like corpus: same ids in the same order, same scores, through writes, failed writes, a rebuild and a
/// read-only open.</summary>
public class Bm25PostingsTests
{
    static string Words(Random random, int count) =>
        string.Join(' ', Enumerable.Range(0, count).Select(_ => "w" + (int)Math.Exp(random.NextDouble() * Math.Log(800))));

    static void AddDocuments(ChunkStore store, Random random, int from, int count)
    {
        for (int d = from; d < from + count; d++)
        {
            // Some chunks over 128 rows of a common word, so lists span several blocks.
            var chunks = Enumerable.Range(0, 60).Select(_ => ("", Words(random, random.Next(3, 50)))).ToList();
            store.ReplaceDocument($"/docs/{d}.txt", "h" + d, chunks, null);
        }
    }

    /// <summary>Runs queries through <see cref="ChunkStore.SearchBm25"/>; each must equal FTS5's ranking and come from the postings.</summary>
    static void AssertRanksAsFts5(ChunkStore store, int seed, int queries = 60)
    {
        var random = new Random(seed);
        int before = store.Postings()!.Counts.Searches;
        for (int q = 0; q < queries; q++)
        {
            var query = Words(random, random.Next(1, 5)) + (q % 7 == 0 ? " zzunknown" : "");
            int top = q % 3 == 0 ? 40 : 10;
            var words = query.Split(' ').Distinct().ToList();
            var expected = store.Bm25Reference(words, top, null);
            var hits = store.SearchBm25(query, top);
            Assert.Equal(expected.Select(e => e.Id), hits.Select(h => h.Chunk.Id));
            for (int i = 0; i < hits.Count; i++) Assert.Equal(expected[i].Score, hits[i].Score, 1e-12);
        }
        Assert.Equal(before + queries, store.Postings()!.Counts.Searches);
    }

    [Fact]
    public void RanksAsFts5ThroughAddsReplacesAndRemoves()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        var random = new Random(3);
        AddDocuments(store, random, 0, 12);
        AssertRanksAsFts5(store, 1);
        Assert.True(store.Postings()!.Counts.Pruned > 20, $"{store.Postings()!.Counts.Pruned} of 60 pruned");
        AddDocuments(store, random, 3, 4);   // replaces four documents in the middle of every list
        store.RemoveDocument("/docs/11.txt"); // the highest ids: the next document reuses them
        store.RemoveDocument("/docs/0.txt");
        AddDocuments(store, random, 20, 2);
        AssertRanksAsFts5(store, 2);
        Assert.True(store.Postings()!.InStep());
    }

    [Fact]
    public void AFailedWriteLeavesThePostingsAsTheyWere()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        AddDocuments(store, new Random(4), 0, 6);
        store.ChunkWritten = i => { if (i == 30) throw new InvalidOperationException("killed"); };
        Assert.Throws<InvalidOperationException>(() => AddDocuments(store, new Random(9), 2, 1));
        store.ChunkWritten = null;
        Assert.True(store.Postings()!.InStep());
        AssertRanksAsFts5(store, 5);
    }

    [Fact]
    public void AStoreWrittenWithoutPostingsIsRebuiltOnOpenAndReadOnlyFallsBackUntilThen()
    {
        using var folder = new TempFolder();
        var path = folder.File("store.db");
        using (var store = ChunkStore.Open(path)) AddDocuments(store, new Random(6), 0, 8);
        // As code without the postings would leave it: a document written past them.
        using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = "DELETE FROM chunks WHERE path = '/docs/5.txt'; DELETE FROM documents WHERE path = '/docs/5.txt'";
            command.ExecuteNonQuery();
        }
        using (var reader = ChunkStore.OpenReadOnly(path))
        {
            Assert.False(reader.Postings()!.InStep());
            var hits = reader.SearchBm25("w1 w7 w300", 10);
            Assert.Equal(reader.Bm25Reference(["w1", "w7", "w300"], 10, null).Select(e => e.Id), hits.Select(h => h.Chunk.Id));
            Assert.Equal(0, reader.Postings()!.Counts.Searches);
        }
        using (var store = ChunkStore.Open(path))
        {
            Assert.True(store.Postings()!.InStep());
            AssertRanksAsFts5(store, 7);
        }
        using (var reader = ChunkStore.OpenReadOnly(path)) AssertRanksAsFts5(reader, 8, queries: 10);
    }
}
