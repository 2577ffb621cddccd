using Microsoft.Extensions.AI;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval;

/// <summary>
/// Searches a store for a text query: embeds it with the generator the store's vectors were made with (vector and
/// hybrid modes), or matches its words (BM25). Shared by <c>rag search</c>, <c>rag ask</c> and <c>rag eval</c>.
/// </summary>
public sealed class ChunkRetriever(ChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? embedder)
{
    public ChunkStore Store => store;

    public async Task<List<SearchHit>> SearchAsync(string query, int top, SearchMode mode = SearchMode.Hybrid, string? pathPrefix = null,
        CancellationToken cancellationToken = default)
    {
        if (mode == SearchMode.Bm25) return store.SearchBm25(query, top, pathPrefix);
        if (embedder is null) throw new InvalidOperationException($"{mode} search needs an embedding generator");
        if (store.Embedding is null) throw new InvalidOperationException($"{store.FilePath} holds no vectors; search it with --mode bm25");
        var vector = (await embedder.GenerateAsync([query], cancellationToken: cancellationToken))[0].Vector;
        return mode == SearchMode.Vector
            ? store.SearchVector(vector.Span, top, pathPrefix)
            : store.SearchHybrid(query, vector.Span, top, pathPrefix);
    }
}
