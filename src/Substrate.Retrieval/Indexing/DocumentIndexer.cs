using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Documents;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Indexing;

/// <summary>Where an index run stands: the file just handled (<see cref="Status"/>: added, changed, unchanged, removed or
/// an error line; "embedding n/m chunks" while a file's chunks are embedded), how many of the run's files are done, and
/// the fraction of the run done (a file being embedded counts in part).</summary>
public sealed record IndexProgress(int Done, int Total, string Path, string Status)
{
    public double Fraction { get; init; } = Total == 0 ? 1 : (double)Done / Total;
}

/// <summary>What an index run did; <see cref="Failed"/> lists the files that could not be read (path, error).</summary>
public sealed record IndexReport(int Added, int Changed, int Unchanged, int Removed, int Chunks, IReadOnlyList<(string Path, string Error)> Failed);

/// <summary>
/// Brings a store in line with a set of files and folders: a file whose content hash the store already has is left
/// alone; a new or changed file is read, chunked, embedded and written in one transaction; a stored document under one
/// of the folders (or named) that no longer exists is dropped. A file that cannot be read is reported and skipped; the
/// run goes on. <paramref name="embedder"/> null stores no vectors (BM25 only).
/// </summary>
public sealed class DocumentIndexer(ChunkStore store, TextChunker chunker, IEmbeddingGenerator<string, Embedding<float>>? embedder)
{
    public async Task<IndexReport> IndexAsync(IReadOnlyList<string> roots, Action<IndexProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (embedder?.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId is { } model && store.Embedding is { } existing && existing.Model != model)
            throw new InvalidOperationException($"{store.FilePath} holds vectors of {existing.Model}, not {model}; index into a new store");
        var files = DocumentReader.Expand(roots);
        var stored = store.Documents();
        var present = files.ToHashSet(StringComparer.Ordinal);
        var gone = stored.Keys.Where(p => !present.Contains(p) && UnderRoots(p, roots)).Order(StringComparer.Ordinal).ToList();
        int total = files.Count + gone.Count, done = 0, added = 0, changed = 0, unchanged = 0, chunks = 0;
        var failed = new List<(string, string)>();
        foreach (var path in gone)
        {
            store.RemoveDocument(path);
            progress?.Invoke(new IndexProgress(++done, total, path, "removed"));
        }
        foreach (var path in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string status;
            int fileDone = done;
            bool progressFailed = false;   // a failing progress callback ends the run; it is not the file's failure
            void Embedded(int embedded, int count)
            {
                try
                {
                    progress?.Invoke(new IndexProgress(fileDone, total, path, $"embedding {embedded}/{count} chunks")
                        { Fraction = (fileDone + (double)embedded / count) / total });
                }
                catch
                {
                    progressFailed = true;
                    throw;
                }
            }
            try
            {
                var hash = HashFile(path);
                bool known = stored.TryGetValue(path, out var storedHash);
                if (known && storedHash == hash)
                {
                    unchanged++;
                    status = "unchanged";
                }
                else
                {
                    chunks += await IndexFileAsync(path, hash, Embedded, cancellationToken);
                    if (known) changed++; else added++;
                    status = known ? "changed" : "added";
                }
            }
            catch (Exception e) when (e is not OperationCanceledException && !progressFailed)
            {
                failed.Add((path, e.Message));
                status = "error: " + e.Message;
            }
            progress?.Invoke(new IndexProgress(++done, total, path, status));
        }
        return new IndexReport(added, changed, unchanged, gone.Count, chunks, failed);
    }

    /// <summary>Indexes one file as the document <paramref name="key"/> (an id rather than its path: the server names an
    /// uploaded file so), replacing that document's chunks; returns how many chunks it has.</summary>
    public Task<int> IndexFileAsAsync(string key, string path, CancellationToken cancellationToken = default) =>
        IndexFileAsync(path, HashFile(path), (_, _) => { }, cancellationToken, key);

    /// <summary>Chunks embedded per call, so a large file reports progress as it goes.</summary>
    const int EmbedSlice = 128;

    async Task<int> IndexFileAsync(string path, string hash, Action<int, int> embedded, CancellationToken cancellationToken, string? key = null)
    {
        var chunks = chunker.Chunk(DocumentReader.Read(path));
        List<ReadOnlyMemory<float>>? vectors = null;
        if (embedder is not null && chunks.Count > 0)
        {
            vectors = [];
            string? model = embedder.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId;
            for (int start = 0; start < chunks.Count; start += EmbedSlice)
            {
                if (chunks.Count > EmbedSlice) embedded(start, chunks.Count);
                var slice = chunks.Skip(start).Take(EmbedSlice).Select(c => c.Text);
                var embeddings = await embedder.GenerateAsync(slice, cancellationToken: cancellationToken);
                model ??= embeddings[0].ModelId ?? "unknown";
                vectors.AddRange(embeddings.Select(e => e.Vector));
            }
            store.UseEmbedding(model!, vectors[0].Length);
        }
        store.ReplaceDocument(key ?? path, hash, chunks.Select(c => (c.Position, c.Text)).ToList(), vectors);
        return chunks.Count;
    }

    static bool UnderRoots(string path, IReadOnlyList<string> roots) => roots.Select(Path.GetFullPath).Any(root =>
        path == root || path.StartsWith(Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal));

    static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
