namespace Substrate.Retrieval.Store;

/// <summary>A chunk as stored: its row id, source file, ordinal within the file, position (page or heading path),
/// text and the SHA-256 of its text.</summary>
public sealed record StoredChunk(long Id, string Path, int Ordinal, string Position, string Text, string Hash);

/// <summary>A chunk found by a search: its rank (1 = best) and the score the search ranked by (cosine similarity,
/// BM25 with higher better, or the fused reciprocal-rank score).</summary>
public sealed record SearchHit(StoredChunk Chunk, int Rank, double Score)
{
    /// <summary>The cosine similarity of the query's and the chunk's embeddings (−1…1) where the search had a query vector
    /// (vector and hybrid); null for BM25. Unlike a fused score it says how close this chunk is, not where it ranked.</summary>
    public double? Similarity { get; init; }
}

/// <summary>How a query is matched: by embedding (exact cosine), by words (FTS5 BM25), or both fused.</summary>
public enum SearchMode { Vector, Bm25, Hybrid }
