using Microsoft.Extensions.VectorData;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Store;

public class ChunkCollectionTests
{
    [Fact]
    public async Task TheStoreWorksThroughTheVectorDataAbstractions()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        VectorStoreCollection<long, ChunkRecord> collection = new ChunkCollection(store, new WordHashEmbedder());
        await collection.EnsureCollectionExistsAsync();
        string[] texts = ["whales sing in the sea", "bread is baked at dawn", "ships sail on the sea"];
        var records = texts.Select((t, i) => new ChunkRecord { Path = i == 1 ? "/land/a.txt" : $"/sea/{i}.txt", Text = t, Vector = WordHashEmbedder.Embed(t) }).ToList();
        await collection.UpsertAsync(records);
        Assert.Equal([1L, 2L, 3L], records.Select(r => r.Id));

        var hits = await collection.SearchAsync("whales in the sea", top: 2).ToListAsync();
        Assert.Equal(1L, hits[0].Record.Id);
        Assert.Equal(store.SearchVector(WordHashEmbedder.Embed("whales in the sea"), 2).Select(h => (h.Chunk.Id, h.Score)),
            hits.Select(h => (h.Record.Id, h.Score!.Value)));

        var prefix = "/land/";
        var filtered = await collection.SearchAsync(WordHashEmbedder.Embed("sea"), 5, new VectorSearchOptions<ChunkRecord> { Filter = r => r.Path.StartsWith(prefix) }).ToListAsync();
        Assert.Equal([2L], filtered.Select(h => h.Record.Id));
        await Assert.ThrowsAsync<NotSupportedException>(async () =>
            await collection.SearchAsync(WordHashEmbedder.Embed("sea"), 5, new VectorSearchOptions<ChunkRecord> { Filter = r => r.Ordinal > 0 }).ToListAsync());

        var got = await collection.GetAsync(3, new RecordRetrievalOptions { IncludeVectors = true });
        Assert.Equal("ships sail on the sea", got!.Text);
        Assert.Equal(WordHashEmbedder.Embed("ships sail on the sea"), got.Vector!.Value.ToArray());
        Assert.Equal([1L, 3L], await collection.GetAsync(r => r.Text.Contains("sea"), 10).Select(r => r.Id).ToListAsync());

        records[2].Text = "ships rest in the harbour";
        await collection.UpsertAsync(records[2]);
        Assert.Equal([3L], store.SearchBm25("harbour", 5).Select(h => h.Chunk.Id));
        Assert.Empty(store.SearchBm25("sail", 5));
        await collection.DeleteAsync(1);
        Assert.Null(await collection.GetAsync(1));
        Assert.Equal(2, store.ChunkCount());
    }
}
