using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Store;

/// <summary>The pruned BM25 top-k (<see cref="Bm25TopK"/>) against FTS5's plain query, on a seeded corpus whose words follow
/// a Zipf-like law (so common words match most chunks, as "the" does in text).</summary>
public class Bm25TopKTests
{
    static string Words(Random random, int count) =>
        string.Join(' ', Enumerable.Range(0, count).Select(_ => "w" + (int)Math.Exp(random.NextDouble() * Math.Log(800))));

    static ChunkStore Corpus(TempFolder folder, int documents = 40)
    {
        var random = new Random(11);
        var store = ChunkStore.Open(folder.File("store.db"));
        for (int d = 0; d < documents; d++)
        {
            var chunks = Enumerable.Range(0, 50).Select(_ => ("", Words(random, random.Next(5, 60)))).ToList();
            store.ReplaceDocument($"/docs/{(d % 2 == 0 ? "even" : "odd")}/{d}.txt", "h" + d, chunks, null);
        }
        return store;
    }

    static void AssertSameAsFts5(ChunkStore store, string query, int top, string? prefix = null)
    {
        var words = query.Split(' ').Distinct().ToList();
        var expected = store.Bm25Reference(words, top, prefix);
        var hits = store.SearchBm25(query, top, prefix);
        Assert.Equal(expected.Select(e => e.Id), hits.Select(h => h.Chunk.Id));
        for (int i = 0; i < hits.Count; i++) Assert.Equal(expected[i].Score, hits[i].Score, 1e-12);
    }

    [Fact]
    public void RanksAsFts5DoesAndPrunesMostQueries()
    {
        using var folder = new TempFolder();
        using var store = Corpus(folder);
        var random = new Random(5);
        for (int q = 0; q < 150; q++)
        {
            var query = Words(random, random.Next(1, 5));
            AssertSameAsFts5(store, query, q % 3 == 0 ? 50 : 10, q % 5 == 0 ? "/docs/odd/" : null);
        }
        var counts = store.Bm25Counts();
        Assert.Equal(150, counts.Searches);
        Assert.True(counts.Pruned > 60, $"{counts.Pruned} of 150 pruned");   // most never score every match of their commonest word
    }

    [Fact]
    public void SeesWritesOfItsOwnAndOfAnotherConnection()
    {
        using var folder = new TempFolder();
        using var store = Corpus(folder, documents: 10);
        AssertSameAsFts5(store, "w1 w2 w300", 10);
        store.ReplaceDocument("/docs/new.txt", "n", [("", "w300 w300 w300 w300"), ("", "w2 w300")], null);
        AssertSameAsFts5(store, "w1 w2 w300", 10);
        Assert.Equal(store.SearchBm25("w300", 1)[0].Chunk.Path, "/docs/new.txt");
        using (var other = ChunkStore.Open(store.FilePath)) other.RemoveDocument("/docs/new.txt");
        AssertSameAsFts5(store, "w1 w2 w300", 10);
        Assert.DoesNotContain(store.SearchBm25("w1 w2 w300", 100), h => h.Chunk.Path == "/docs/new.txt");
    }

    [Fact]
    public void StemsQueryWordsAsTheIndexDoes()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        store.ReplaceDocument("/a.txt", "a", [("", "bakers baked bread"), ("", "the baking of bread"), ("", "running dogs")], null);
        AssertSameAsFts5(store, "baking bread the", 3);
        Assert.Equal([1L, 2L], store.SearchBm25("bake", 5).Select(h => h.Chunk.Id).Order());
    }

    [Fact]
    public void ALongQueryOfUnknownAndRareWordsRanksAsFts5()
    {
        using var folder = new TempFolder();
        using var store = Corpus(folder, documents: 10);
        // ~10k characters: unknown words (no row holds them) around rare and common ones; before, each word cost a split (minutes)
        var words = Enumerable.Range(0, 1200).Select(i => "zz" + i).Concat(Enumerable.Range(1, 400).Select(i => "w" + i));
        // Seeded order (string hash codes differ from run to run); speed is the bench's to measure (rag-scale), not a timed test's.
        var random = new Random(7);
        var query = string.Join(' ', words.OrderBy(_ => random.Next()));
        AssertSameAsFts5(store, query, 10);
        Assert.Empty(store.SearchBm25(string.Join(' ', Enumerable.Range(0, 1500).Select(i => "zz" + i)), 10));
    }
}
