using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Store;

public class ChunkStoreSearchTests
{
    static readonly string[] Texts =
    [
        "The harbour master keeps the ledger of ships.",
        "Whales sing in the deep cold sea.",
        "A lighthouse keeper counts the ships at night.",
        "Bread is baked before dawn in the village.",
    ];

    static ChunkStore Filled(TempFolder folder)
    {
        var store = ChunkStore.Open(folder.File("store.db"));
        store.UseEmbedding("word-hash", WordHashEmbedder.Dimensions);
        for (int i = 0; i < Texts.Length; i++)
            store.ReplaceDocument(i < 2 ? $"/docs/sea/{i}.txt" : $"/docs/land/{i}.txt", "h" + i, [("", Texts[i])], [WordHashEmbedder.Embed(Texts[i])]);
        return store;
    }

    [Fact]
    public void Bm25RanksByWordsAndFiltersByPathPrefix()
    {
        using var folder = new TempFolder();
        using var store = Filled(folder);
        var hits = store.SearchBm25("ships keeper", 10);
        Assert.Equal([3L, 1L], hits.Select(h => h.Chunk.Id));   // "keeper" and "ships" beats "ships" alone
        Assert.True(hits[0].Score > hits[1].Score);
        Assert.Equal([1L], store.SearchBm25("ships keeper", 10, "/docs/sea/").Select(h => h.Chunk.Id));
        Assert.Equal([4L], store.SearchBm25("baking", 10).Select(h => h.Chunk.Id));   // Porter stemming: baking ~ baked
        Assert.Empty(store.SearchBm25("?!", 10));
    }

    [Fact]
    public void VectorSearchIsTheExactCosineRanking()
    {
        using var folder = new TempFolder();
        using var store = Filled(folder);
        var query = WordHashEmbedder.Embed("whales in the sea");
        var hits = store.SearchVector(query, 4);
        var expected = Texts.Select((t, i) => (Id: i + 1L, Score: Dot(query, WordHashEmbedder.Embed(t))))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Id).ToList();
        Assert.Equal(expected.Select(e => e.Id), hits.Select(h => h.Chunk.Id));
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i].Score, hits[i].Score, 5);
        Assert.Equal([3L, 4L], store.SearchVector(query, 2, "/docs/land/").Select(h => h.Chunk.Id).Order());
    }

    [Fact]
    public void SimdSearchAgreesWithAPlainLoopOnSeededVectors()
    {
        var random = new Random(7);
        int n = 500, d = 384;
        var matrix = new float[n * d];
        for (int i = 0; i < matrix.Length; i++) matrix[i] = (float)(random.NextDouble() * 2 - 1);
        var index = new VectorIndex(Enumerable.Range(1, n).Select(i => (long)i).ToArray(), Enumerable.Repeat("p", n).ToArray(), matrix, d);
        var query = matrix.AsSpan(42 * d, d).ToArray();
        var plain = Enumerable.Range(0, n).Select(r =>
        {
            double sum = 0;
            for (int k = 0; k < d; k++) sum += (double)query[k] * matrix[r * d + k];
            return (Id: r + 1L, Score: sum);
        }).OrderByDescending(x => x.Score).Take(10).ToList();
        var simd = index.Search(query, 10);
        Assert.Equal(plain.Select(p => p.Id), simd.Select(s => s.Id));
        for (int i = 0; i < 10; i++) Assert.Equal(plain[i].Score, simd[i].Score, 3);
        Assert.Equal(43L, simd[0].Id);
    }

    [Fact]
    public void HybridFusesTheTwoRankingsByReciprocalRank()
    {
        using var folder = new TempFolder();
        using var store = Filled(folder);
        const string text = "keeper of the ships";
        var vector = WordHashEmbedder.Embed(text);
        var byVector = store.SearchVector(vector, 50);
        var byWords = store.SearchBm25(text, 50);
        var expected = byVector.Concat(byWords).GroupBy(h => h.Chunk.Id)
            .Select(g => (Id: g.Key, Score: g.Sum(h => 1.0 / (60 + h.Rank))))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Id).ToList();
        var hybrid = store.SearchHybrid(text, vector, 4);
        Assert.Equal(expected.Select(e => e.Id), hybrid.Select(h => h.Chunk.Id));
        Assert.Equal(expected.Select(e => e.Score), hybrid.Select(h => h.Score));
        Assert.Equal([1, 2, 3, 4], hybrid.Select(h => h.Rank));
    }

    /// <summary>Every hybrid hit carries its exact cosine to the query vector, a hit only BM25 found too: the words
    /// ("baking") find the bread, the vector (of the whale sentence) the whales, one deep each.</summary>
    [Fact]
    public void HybridHitsCarryTheirCosineSimilarityEvenWhenOnlyBm25FoundThem()
    {
        using var folder = new TempFolder();
        using var store = Filled(folder);
        var vector = WordHashEmbedder.Embed(Texts[1]);
        var cosine = store.Vectors().SearchExact(vector, store.ChunkCount()).ToDictionary(f => f.Id, f => f.Score);
        var hybrid = store.SearchHybrid("baking", vector, 2, depth: 1);
        Assert.Equal([2L, 4L], hybrid.Select(h => h.Chunk.Id));
        Assert.Equal([cosine[2], cosine[4]], hybrid.Select(h => h.Similarity!.Value));
        Assert.Equal(1.0, cosine[2], 6);
        Assert.All(store.SearchVector(vector, 4), h => Assert.Equal(h.Score, h.Similarity));
        Assert.All(store.SearchBm25("baking", 4), h => Assert.Null(h.Similarity));
    }

    [Fact]
    public void AStoreRefusesVectorsOfAnotherModel()
    {
        using var folder = new TempFolder();
        using var store = Filled(folder);
        var e = Assert.Throws<InvalidOperationException>(() => store.UseEmbedding("all-MiniLM-L6-v2", 384));
        Assert.Contains("holds vectors of word-hash (16 dimensions), not all-MiniLM-L6-v2 (384)", e.Message);
    }

    [Fact]
    public void OpeningAFileThatIsNotSqliteIsAnErrorNamingIt()
    {
        using var folder = new TempFolder();
        var junk = folder.File("notes.txt");
        File.WriteAllText(junk, new string('x', 4096));
        foreach (var open in new Func<ChunkStore>[] { () => ChunkStore.Open(junk), () => ChunkStore.Open(junk, create: false) })
            Assert.StartsWith($"{junk} is not a chunk store: ", Assert.Throws<InvalidDataException>(open).Message);
    }

    static double Dot(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum();
}
