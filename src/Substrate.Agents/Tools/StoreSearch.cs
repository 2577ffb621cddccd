using Microsoft.Extensions.AI;
using Substrate.Retrieval;
using Substrate.Retrieval.Store;

namespace Substrate.Agents.Tools;

/// <summary>
/// The <c>search</c> tool's engine: a chunk store (<c>substrate rag index</c>) opened read-only, searched by
/// <see cref="ChunkRetriever"/> — hybrid when the store holds vectors and an embedder for them is given, BM25 otherwise —
/// and the hits written compactly, one a line: <c>[rank] path (position): snippet</c>. Owns the store and the embedder.
/// </summary>
public sealed class StoreSearch : IDisposable
{
    public const int MaxTop = 10;
    public const int SnippetChars = 400;

    readonly ChunkStore store;
    readonly IEmbeddingGenerator<string, Embedding<float>>? embedder;
    readonly ChunkRetriever retriever;

    StoreSearch(ChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? embedder)
    {
        this.store = store;
        this.embedder = embedder;
        retriever = new ChunkRetriever(store, embedder);
    }

    public string FilePath => store.FilePath;

    /// <summary>Opens <paramref name="path"/> read-only; <paramref name="embedderFor"/> gives the embedder its vectors were
    /// made with (null: search by words only). A missing or corrupt store throws here, before any run.</summary>
    public static StoreSearch Open(string path, Func<ChunkStore, IEmbeddingGenerator<string, Embedding<float>>?>? embedderFor = null)
    {
        var store = ChunkStore.OpenReadOnly(path);
        try
        {
            var embedder = store.Embedding is null ? null : embedderFor?.Invoke(store);
            return new StoreSearch(store, embedder);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    public async Task<string> SearchAsync(string query, int top = 5, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(query)) throw new ArgumentException("query is empty");
        if (top < 1) throw new ArgumentException("top must be ≥ 1");
        var mode = embedder is null ? SearchMode.Bm25 : SearchMode.Hybrid;
        var hits = await retriever.SearchAsync(query, Math.Min(top, MaxTop), mode, cancellationToken: cancellationToken);
        return hits.Count == 0 ? "no chunks match" : string.Join('\n', hits.Select(Line));
    }

    static string Line(SearchHit hit)
    {
        var c = hit.Chunk;
        var text = c.Text.ReplaceLineEndings(" ");
        var snippet = text.Length <= SnippetChars ? text : text[..SnippetChars] + "…";
        var position = c.Position.Length > 0 ? c.Position : $"chunk {c.Ordinal + 1}";
        return $"[{hit.Rank}] {c.Path} ({position}): {snippet}";
    }

    public void Dispose()
    {
        embedder?.Dispose();
        store.Dispose();
    }
}
