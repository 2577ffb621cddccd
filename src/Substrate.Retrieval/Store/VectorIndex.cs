using System.Numerics.Tensors;

namespace Substrate.Retrieval.Store;

/// <summary>
/// Exact nearest-neighbour search over L2-normalised vectors held in one row-major matrix: the score of a chunk is its
/// dot product with the query (the cosine similarity), computed with SIMD (<see cref="TensorPrimitives.Dot"/>, Vector256
/// or Vector512 lanes as the CPU has them); the best k are kept in a min-heap. Rows may be restricted to paths under a prefix.
/// </summary>
public sealed class VectorIndex(long[] ids, string[] paths, float[] matrix, int dimensions)
{
    public int Count => ids.Length;
    public int Dimensions => dimensions;

    public List<(long Id, double Score)> Search(ReadOnlySpan<float> query, int top, string? pathPrefix = null)
    {
        if (Count > 0 && query.Length != dimensions)
            throw new ArgumentException($"query has {query.Length} dimensions, the store {dimensions}");
        var best = new PriorityQueue<(long Id, float Score), (float, long)>();
        for (int row = 0; row < ids.Length; row++)
        {
            if (pathPrefix is not null && !paths[row].StartsWith(pathPrefix, StringComparison.Ordinal)) continue;
            float score = TensorPrimitives.Dot(query, matrix.AsSpan(row * dimensions, dimensions));
            // Ties go to the lower id: the heap's minimum is the worst (lowest score, then highest id).
            var priority = (score, -ids[row]);
            if (best.Count < top) best.Enqueue((ids[row], score), priority);
            else if (top > 0 && Comparer<(float, long)>.Default.Compare(priority, PeekPriority(best)) > 0)
                best.EnqueueDequeue((ids[row], score), priority);
        }
        var result = new List<(long Id, double Score)>(best.Count);
        while (best.Count > 0)
        {
            var (id, score) = best.Dequeue();
            result.Add((id, score));
        }
        result.Reverse();
        return result;
    }

    static (float, long) PeekPriority(PriorityQueue<(long Id, float Score), (float, long)> heap) =>
        heap.TryPeek(out _, out var priority) ? priority : default;
}
