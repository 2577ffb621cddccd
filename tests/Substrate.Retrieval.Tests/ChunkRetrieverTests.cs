using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests;

public class ChunkRetrieverTests
{
    [Fact]
    public async Task TheQueryIsEmbeddedForVectorAndHybridSearch()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        string[] texts = ["whales sing in the sea", "bread is baked at dawn", "ships sail on the sea at dawn"];
        store.ReplaceDocument("/docs/a.txt", "h", texts.Select(t => ("", t)).ToList(), texts.Select(t => (ReadOnlyMemory<float>)WordHashEmbedder.Embed(t)).ToList());
        var retriever = new ChunkRetriever(store, new WordHashEmbedder());
        const string query = "ships at dawn";
        var vector = WordHashEmbedder.Embed(query);
        Assert.Equal(store.SearchHybrid(query, vector, 3), await retriever.SearchAsync(query, 3));
        Assert.Equal(store.SearchVector(vector, 3), await retriever.SearchAsync(query, 3, SearchMode.Vector));
        Assert.Equal(store.SearchBm25(query, 3), await retriever.SearchAsync(query, 3, SearchMode.Bm25));
        Assert.Equal([1L, 3L], (await retriever.SearchAsync("sea", 3, SearchMode.Bm25, "/docs/")).Select(h => h.Chunk.Id).Order());
    }

    [Fact]
    public async Task AStoreWithoutVectorsSearchesByWordsOnly()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        store.ReplaceDocument("/docs/a.txt", "h", [("", "whales sing")], null);
        var retriever = new ChunkRetriever(store, new WordHashEmbedder());
        Assert.Single(await retriever.SearchAsync("whales", 3, SearchMode.Bm25));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => retriever.SearchAsync("whales", 3));
        Assert.Equal($"{store.FilePath} holds no vectors; search it with --mode bm25", e.Message);
    }
}
