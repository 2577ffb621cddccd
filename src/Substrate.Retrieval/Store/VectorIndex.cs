using System.Numerics.Tensors;

namespace Substrate.Retrieval.Store;

/// <summary>
/// Nearest-neighbour search over L2-normalised vectors held in one row-major matrix (rows × dimensions, float32); the score
/// of a chunk is its dot product with the query (the cosine similarity). Below <see cref="QuantizedFromRows"/> rows every row
/// is scored exactly (<see cref="SearchExact"/>, SIMD <see cref="TensorPrimitives.Dot"/>). From there on a second copy of
/// the rows as int8 (<see cref="Int8Rows"/>, a quarter of the bytes to stream) picks <see cref="RerankDepth"/> candidates
/// and those are rescored exactly, so scores stay exact and only the candidate set is approximate (recall@10 against
/// exact search is measured by <c>bench rag-scale</c> and pinned by a test). Rows are appended and removed in step with
/// the store's writes; a removed row is a hole (id 0) skipped by the scans until holes are half the rows, then they are
/// squeezed out.
/// </summary>
public sealed class VectorIndex
{
    /// <summary>Where int8 candidates + exact rerank start to pay (bench rag-scale measures both sides).</summary>
    public const int QuantizedFromRows = 50_000;

    readonly int dimensions, quantizedFrom;
    long[] ids;          // (capacity); 0 = removed
    string?[] paths;     // (capacity)
    float[] matrix;      // (capacity × dimensions)
    int count, holes;
    Int8Rows? quantized;

    /// <param name="quantizedFromRows">tests only: where the int8 path starts instead of <see cref="QuantizedFromRows"/></param>
    public VectorIndex(long[] ids, string[] paths, float[] matrix, int dimensions, int quantizedFromRows = QuantizedFromRows)
    {
        if (matrix.Length != ids.Length * dimensions || paths.Length != ids.Length)
            throw new ArgumentException($"{ids.Length} ids, {paths.Length} paths and {matrix.Length} floats do not make rows of {dimensions}");
        this.ids = ids;
        this.paths = paths;
        this.matrix = matrix;
        this.dimensions = dimensions;
        quantizedFrom = quantizedFromRows;
        count = ids.Length;
        if (count >= quantizedFrom) quantized = Int8Rows.From(matrix, count, dimensions);
    }

    /// <summary>Rows with a vector (removed ones not counted).</summary>
    public int Count => count - holes;
    public int Dimensions => dimensions;

    /// <summary>Whether searches go through the int8 copy.</summary>
    public bool IsQuantized => quantized is not null;

    /// <summary>Candidates the int8 scan hands to the exact rerank for a top-k search
    /// (in longs: a huge top, int.MaxValue as "all", must not wrap to a negative depth and find nothing).</summary>
    public static int RerankDepth(int top) => (int)Math.Min(Math.Max(4L * top, top + 40L), int.MaxValue);

    public List<(long Id, double Score)> Search(ReadOnlySpan<float> query, int top, string? pathPrefix = null)
    {
        CheckQuery(query);
        if (quantized is null || top <= 0) return SearchExact(query, top, pathPrefix);
        var rows = quantized.Candidates(query, RerankDepth(top), count, row => Live(row, pathPrefix));
        var best = new TopK(top);
        foreach (var row in rows) best.Offer(ids[row], TensorPrimitives.Dot(query, Row(row)));
        return best.Results();
    }

    /// <summary>Every row scored exactly: the reference the int8 path is measured against.</summary>
    public List<(long Id, double Score)> SearchExact(ReadOnlySpan<float> query, int top, string? pathPrefix = null)
    {
        CheckQuery(query);
        var best = new TopK(top);
        for (int row = 0; row < count; row++)
            if (Live(row, pathPrefix)) best.Offer(ids[row], TensorPrimitives.Dot(query, Row(row)));
        return best.Results();
    }

    /// <summary>The exact cosine similarity of the query to each of these ids that has a row (one pass over the ids,
    /// a dot product only for the rows asked).</summary>
    public Dictionary<long, double> Similarities(ReadOnlySpan<float> query, IReadOnlySet<long> wanted)
    {
        CheckQuery(query);
        var found = new Dictionary<long, double>(wanted.Count);
        for (int row = 0; row < count && found.Count < wanted.Count; row++)
            if (ids[row] != 0 && wanted.Contains(ids[row])) found[ids[row]] = TensorPrimitives.Dot(query, Row(row));
        return found;
    }

    /// <summary>Appends rows (ids new to the index).</summary>
    public void Add(IReadOnlyList<long> newIds, string path, IReadOnlyList<ReadOnlyMemory<float>> vectors)
    {
        Reserve(count + newIds.Count);
        for (int i = 0; i < newIds.Count; i++)
        {
            if (vectors[i].Length != dimensions) throw new ArgumentException($"vector has {vectors[i].Length} dimensions, the index {dimensions}");
            ids[count] = newIds[i];
            paths[count] = path;
            vectors[i].Span.CopyTo(matrix.AsSpan(count * dimensions, dimensions));
            quantized?.Set(count, vectors[i].Span);
            count++;
        }
        if (quantized is null && Count >= quantizedFrom) quantized = Int8Rows.From(matrix, count, dimensions);
    }

    /// <summary>Removes the rows of these ids (ids not in the index are ignored).</summary>
    public void Remove(IReadOnlyCollection<long> removed)
    {
        if (removed.Count == 0) return;
        var set = removed as HashSet<long> ?? [.. removed];
        for (int row = 0; row < count; row++)
        {
            if (ids[row] == 0 || !set.Contains(ids[row])) continue;
            ids[row] = 0;
            paths[row] = null;
            holes++;
        }
        if (holes > count / 2) Squeeze();
    }

    bool Live(int row, string? pathPrefix) =>
        ids[row] != 0 && (pathPrefix is null || paths[row]!.StartsWith(pathPrefix, StringComparison.Ordinal));

    ReadOnlySpan<float> Row(int row) => matrix.AsSpan(row * dimensions, dimensions);

    /// <summary>A query of the wrong size, or holding NaN or ±∞ (every dot product with it is NaN or ±∞, so its "nearest"
    /// rows would be arbitrary), is one clear error.</summary>
    void CheckQuery(ReadOnlySpan<float> query)
    {
        if (Count > 0 && query.Length != dimensions)
            throw new ArgumentException($"query has {query.Length} dimensions, the store {dimensions}");
        for (int i = 0; i < query.Length; i++)
            if (!float.IsFinite(query[i]))
                throw new ArgumentException($"query vector holds {query[i]} at dimension {i}: every component must be a finite number");
    }

    void Reserve(int rows)
    {
        if (rows <= ids.Length) return;
        int capacity = Math.Max(rows, ids.Length + ids.Length / 2 + 16);
        Array.Resize(ref ids, capacity);
        Array.Resize(ref paths, capacity);
        Array.Resize(ref matrix, capacity * dimensions);
        quantized?.Reserve(capacity);
    }

    /// <summary>Moves live rows down over the holes, keeping their order.</summary>
    void Squeeze()
    {
        int kept = 0;
        for (int row = 0; row < count; row++)
        {
            if (ids[row] == 0) continue;
            if (kept != row)
            {
                ids[kept] = ids[row];
                paths[kept] = paths[row];
                Row(row).CopyTo(matrix.AsSpan(kept * dimensions, dimensions));
                quantized?.Move(row, kept);
            }
            kept++;
        }
        Array.Clear(ids, kept, count - kept);
        Array.Clear(paths, kept, count - kept);
        count = kept;
        holes = 0;
        if (quantized is not null && count < quantizedFrom / 2) quantized = null;
    }

    /// <summary>The best k (id, score) pairs seen, ties to the lower id; the heap's minimum is the worst.</summary>
    sealed class TopK(int k)
    {
        readonly PriorityQueue<(long Id, float Score), (float, long)> heap = new();

        public void Offer(long id, float score)
        {
            var priority = (score, -id);
            if (heap.Count < k) heap.Enqueue((id, score), priority);
            else if (k > 0 && heap.TryPeek(out _, out var worst) && Comparer<(float, long)>.Default.Compare(priority, worst) > 0)
                heap.EnqueueDequeue((id, score), priority);
        }

        public List<(long Id, double Score)> Results()
        {
            var result = new List<(long Id, double Score)>(heap.Count);
            while (heap.Count > 0)
            {
                var (id, score) = heap.Dequeue();
                result.Add((id, score));
            }
            result.Reverse();
            return result;
        }
    }
}
