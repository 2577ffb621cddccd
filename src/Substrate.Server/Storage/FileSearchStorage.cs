using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Substrate.Retrieval;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Documents;
using Substrate.Retrieval.Embeddings;
using Substrate.Retrieval.Indexing;
using Substrate.Retrieval.Store;

namespace Substrate.Server.Storage;

/// <summary>
/// Files and vector stores under a data folder: <c>files/&lt;id&gt;/</c> (record and bytes) and
/// <c>vector_stores/&lt;id&gt;/</c> (record and one SQLite chunk store). Every call names the owner (the hash of the
/// caller's key); a record of another owner is answered as absent. Writes to one vector store are serialised; a search
/// opens the store's file for itself (SQLite in WAL mode lets it read beside a write).
/// </summary>
internal sealed class FileSearchStorage(string dataDir, Func<IEmbeddingGenerator<string, Embedding<float>>> embedder)
{
    private readonly RecordFolders<StoredFile> files = new(Path.Combine(dataDir, "files"));
    private readonly RecordFolders<StoredVectorStore> stores = new(Path.Combine(dataDir, "vector_stores"));
    private readonly ConcurrentDictionary<string, SemaphoreSlim> writing = new();
    private readonly Lazy<TextChunker> chunker = new(() =>
    {
        var wordPiece = MiniLmEmbeddingGenerator.LoadTokenizer();
        return new TextChunker(text => wordPiece.Encode(text).Count);
    });

    public async Task<StoredFile> AddFileAsync(string owner, string filename, string purpose, Stream content, CancellationToken cancellation)
    {
        var extension = DocumentReader.Extensions.Where(e => filename.EndsWith(e, StringComparison.OrdinalIgnoreCase)).MaxBy(e => e.Length)
            ?? throw ApiException.Invalid($"'{filename}' is not a supported document (expected {string.Join(", ", DocumentReader.Extensions)})", "file");
        var id = RecordFolders<StoredFile>.NewId("file-");
        return await files.CreateAsync(id, async folder =>
        {
            await using var file = new FileStream(Path.Combine(folder, "content" + extension), FileMode.CreateNew);
            await content.CopyToAsync(file, cancellation);
            file.Flush(flushToDisk: true);
            return new StoredFile(id, owner, filename, file.Length, Now(), purpose, "content" + extension);
        });
    }

    public StoredFile File(string owner, string id) =>
        files.Get(id) is { } file && file.Owner == owner ? file : throw NotFound("file", id);

    public List<StoredFile> Files(string owner) => files.All().Where(f => f.Owner == owner).OrderBy(f => f.CreatedAt).ToList();

    /// <summary>Deletes the file and takes it out of the owner's vector stores (as OpenAI does).</summary>
    public async Task DeleteFileAsync(string owner, string id, CancellationToken cancellation)
    {
        File(owner, id);
        foreach (var store in VectorStores(owner))
            await WriteAsync(store.Id, chunks => chunks.RemoveDocument(id), cancellation);
        if (!files.Delete(id)) throw NotFound("file", id);   // a concurrent delete got there first
    }

    public async Task<StoredVectorStore> CreateVectorStoreAsync(string owner, string? name)
    {
        var id = RecordFolders<StoredVectorStore>.NewId("vs_");
        return await stores.CreateAsync(id, folder =>
        {
            ChunkStore.Open(Path.Combine(folder, "store.db")).Dispose();
            return Task.FromResult(new StoredVectorStore(id, owner, name, Now()));
        });
    }

    public StoredVectorStore VectorStore(string owner, string id) =>
        stores.Get(id) is { } store && store.Owner == owner ? store : throw NotFound("vector store", id);

    public List<StoredVectorStore> VectorStores(string owner) => stores.All().Where(s => s.Owner == owner).OrderBy(s => s.CreatedAt).ToList();

    public async Task DeleteVectorStoreAsync(string owner, string id, CancellationToken cancellation)
    {
        VectorStore(owner, id);
        var gate = writing.GetOrAdd(id, _ => new SemaphoreSlim(1));
        await gate.WaitAsync(cancellation);
        try
        {
            if (!stores.Delete(id)) throw NotFound("vector store", id);   // a concurrent delete got there first
        }
        finally { gate.Release(); }
    }

    /// <summary>Chunks and embeds the file into the store (replacing it if it was there); returns the chunk count.</summary>
    public async Task<int> AttachAsync(string owner, string storeId, string fileId, CancellationToken cancellation)
    {
        VectorStore(owner, storeId);
        var file = File(owner, fileId);
        var content = Path.Combine(files.FolderOf(fileId), file.ContentName);
        int chunks = 0;
        await WriteAsync(storeId, async store =>
        {
            try { chunks = await new DocumentIndexer(store, chunker.Value, embedder()).IndexFileAsAsync(fileId, content, cancellation); }
            catch (InvalidDataException e) { throw ApiException.Invalid($"{file.Filename}: {e.Message.Replace(content, file.Filename)}", "file_id"); }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw NotFound("file", fileId); } // deleted meanwhile
        }, cancellation);
        return chunks;
    }

    /// <summary>The files in the store with their chunk counts (a file deleted since is left out).</summary>
    public List<(StoredFile File, int Chunks)> StoreFiles(string owner, string storeId)
    {
        using var store = Open(VectorStore(owner, storeId));
        return store.Documents().Keys.Select(id => (File: files.Get(id), Chunks: store.GetDocumentChunks(id).Count))
            .Where(f => f.File is not null).Select(f => (f.File!, f.Chunks)).OrderBy(f => f.Item1.CreatedAt).ToList();
    }

    public async Task DetachAsync(string owner, string storeId, string fileId, CancellationToken cancellation)
    {
        VectorStore(owner, storeId);
        bool found = false;
        await WriteAsync(storeId, store =>
        {
            found = store.Documents().ContainsKey(fileId);
            if (found) store.RemoveDocument(fileId);
        }, cancellation);
        if (!found) throw NotFound("file in this vector store", fileId);
    }

    /// <summary>Hybrid search (MiniLM + BM25, fused by reciprocal rank) over the store's chunks whose file passes
    /// <paramref name="keep"/> and whose <see cref="Score"/> is at least <paramref name="scoreThreshold"/>, in hybrid order;
    /// each hit with its file's name and score.</summary>
    public async Task<List<(SearchHit Hit, string Filename, double Score)>> SearchAsync(string owner, string storeId, string query, int top,
        Func<StoredFile, bool>? keep, double scoreThreshold, CancellationToken cancellation)
    {
        using var store = Open(VectorStore(owner, storeId));
        var names = store.Documents().Keys.Select(files.Get).OfType<StoredFile>().Where(f => keep?.Invoke(f) ?? true).ToDictionary(f => f.Id, f => f.Filename);
        int chunks = store.ChunkCount();
        if (chunks == 0 || names.Count == 0) return [];
        // With a filter or a threshold every chunk is ranked, so neither can leave fewer than top hits that a deeper search would find.
        var retriever = new ChunkRetriever(store, embedder());
        var hits = await retriever.SearchAsync(query, keep is null && scoreThreshold <= 0 ? top : chunks, SearchMode.Hybrid, cancellationToken: cancellation);
        return hits.Where(h => names.ContainsKey(h.Chunk.Path)).Select(h => (h, names[h.Chunk.Path], Score(h)))
            .Where(h => h.Item3 >= scoreThreshold).Take(top).ToList();
    }

    /// <summary>A hit's score on OpenAI's 0–1 scale: the cosine similarity of the query's and the chunk's MiniLM embeddings,
    /// a negative one (pointing away from the query) clamped to 0. It measures how close the chunk is, where the fused
    /// reciprocal-rank score only says where it ranked (its best chunk would score alike for any query).</summary>
    public static double Score(SearchHit hit) => Math.Clamp(hit.Similarity ?? 0, 0, 1);

    private ChunkStore Open(StoredVectorStore store) => ChunkStore.Open(Path.Combine(stores.FolderOf(store.Id), "store.db"), create: false);

    private async Task WriteAsync(string storeId, Func<ChunkStore, Task> write, CancellationToken cancellation)
    {
        var gate = writing.GetOrAdd(storeId, _ => new SemaphoreSlim(1));
        await gate.WaitAsync(cancellation);
        try
        {
            if (stores.Get(storeId) is not { } record) throw NotFound("vector store", storeId);
            using var store = Open(record);
            await write(store);
        }
        finally { gate.Release(); }
    }

    private Task WriteAsync(string storeId, Action<ChunkStore> write, CancellationToken cancellation) =>
        WriteAsync(storeId, store => { write(store); return Task.CompletedTask; }, cancellation);

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static ApiException NotFound(string what, string id) => new(404, $"No {what} found with id '{id}'.", param: "id", code: "not_found");
}
