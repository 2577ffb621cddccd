using System.Diagnostics;
using Substrate.Evaluation;
using Substrate.Retrieval;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Documents;
using Substrate.Retrieval.Embeddings;
using Substrate.Retrieval.Indexing;
using Substrate.Retrieval.Store;

namespace Substrate.Recipes;

/// <summary>
/// How the retrieval arm of the adaptation report finds its passages: the knowledge source (files or folders, e.g. the
/// corpus split a task was built from) indexed into a store in the work folder, searched with each item's query.
/// Chunks are small (64 WordPiece tokens) and few (2) by default so that passages and query fit a small model's context.
/// </summary>
public sealed record RetrievalArmOptions
{
    public required IReadOnlyList<string> Sources { get; init; }
    /// <summary>BM25 needs no embedder (indexing is seconds); hybrid and vector embed every chunk with MiniLM.</summary>
    public SearchMode Mode { get; init; } = SearchMode.Bm25;
    public int Top { get; init; } = 2;
    public int ChunkTokens { get; init; } = 64;
    public int Overlap { get; init; } = 8;

    /// <summary>Throws on options that cannot run — before a model is loaded or anything is trained.</summary>
    public RetrievalArmOptions Validate()
    {
        if (Sources.Count == 0) throw new ArgumentException("the retrieval arm needs at least one knowledge source");
        if (Top < 1) throw new ArgumentException($"the retrieval arm needs top ≥ 1, got {Top}");
        if (ChunkTokens < 8 || Overlap < 0 || Overlap >= ChunkTokens)
            throw new ArgumentException($"the retrieval arm needs chunks of ≥ 8 tokens and 0 ≤ overlap < chunk tokens, got {ChunkTokens} and {Overlap}");
        foreach (var source in Sources)
            if (!File.Exists(source) && !Directory.Exists(source)) throw new FileNotFoundException($"knowledge source not found: {source}");
        return this;
    }
}

/// <summary>The passages retrieved for each item of a task, and what retrieving them cost.</summary>
/// <param name="Backgrounds">By item index: the top passages, the best one last (nearest the query, and kept when a
/// long context is cut from the left), each followed by a blank line.</param>
/// <param name="Seconds">Time spent searching, over all items (the store was built before).</param>
public sealed record RetrievedPassages(IReadOnlyList<string> Backgrounds, double Seconds);

public static class RetrievalArm
{
    /// <summary>Indexes the sources into <c>knowledge-{mode}-{chunk tokens}.db</c> under the work folder (a re-run reads
    /// only changed files) and retrieves the passages for every item of <paramref name="task"/>.</summary>
    public static RetrievedPassages Retrieve(RetrievalArmOptions options, EvalTask task, string workDirectory, Action<string>? log = null)
    {
        options.Validate();
        Directory.CreateDirectory(workDirectory);
        bool vectors = options.Mode != SearchMode.Bm25;
        var storePath = Path.Combine(workDirectory, $"knowledge-{(vectors ? "minilm" : "bm25")}-{options.ChunkTokens}.db");
        using var embedder = vectors ? new MiniLmEmbeddingGenerator() : null;
        using var store = ChunkStore.Open(storePath);
        var wordPiece = MiniLmEmbeddingGenerator.LoadTokenizer();
        var chunker = new TextChunker(text => wordPiece.Encode(text).Count, options.ChunkTokens, options.Overlap);
        log?.Invoke($"indexing the knowledge source into {storePath}");
        // The store holds this run's sources only: documents an earlier run indexed from other sources are dropped.
        var current = DocumentReader.Expand(options.Sources).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in store.Documents().Keys.Where(path => !current.Contains(path)).ToList()) store.RemoveDocument(stale);
        var report = new DocumentIndexer(store, chunker, embedder).IndexAsync(options.Sources).GetAwaiter().GetResult();
        if (report.Failed.Count > 0) throw new InvalidDataException($"knowledge source {report.Failed[0].Path}: {report.Failed[0].Error}");

        var retriever = new ChunkRetriever(store, embedder);
        var clock = Stopwatch.StartNew();
        var backgrounds = task.Items.Select(item =>
        {
            var hits = retriever.SearchAsync(item.Query, options.Top, options.Mode).GetAwaiter().GetResult();
            return Background(hits.Select(h => h.Chunk.Text));
        }).ToList();
        return new RetrievedPassages(backgrounds, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Passages ranked best first, written best last, each on its own lines and followed by a blank line.</summary>
    public static string Background(IEnumerable<string> rankedPassages) =>
        string.Concat(rankedPassages.Reverse().Select(text => text.Trim() + TaskEvaluator.ShotSeparator));
}
