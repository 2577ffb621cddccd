using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Retrieval.Store;

/// <summary>
/// The rows of a <see cref="VectorIndex"/> as int8, one scale a row: row r ≈ scale[r] × code[r], code = round(v × 127 /
/// max|v|). A query is quantized the same way; its int8 dot product with a row times the row's scale orders rows as the
/// float dot product does, up to rounding — good enough to pick candidates for an exact rerank, at a quarter of the bytes.
/// Scans split the rows over the cores, each part keeping its own best, merged at the end.
/// </summary>
internal sealed class Int8Rows
{
    readonly int dimensions;
    sbyte[] codes;    // (capacity × dimensions)
    float[] scales;   // (capacity)

    Int8Rows(int capacity, int dimensions)
    {
        this.dimensions = dimensions;
        codes = new sbyte[capacity * dimensions];
        scales = new float[capacity];
    }

    public static Int8Rows From(float[] matrix, int count, int dimensions)
    {
        var rows = new Int8Rows(matrix.Length / dimensions, dimensions);
        Parallel.For(0, count, r => rows.Set(r, matrix.AsSpan(r * dimensions, dimensions)));
        return rows;
    }

    public void Set(int row, ReadOnlySpan<float> vector)
    {
        scales[row] = Quantize(vector, codes.AsSpan(row * dimensions, dimensions));
    }

    public void Move(int from, int to)
    {
        codes.AsSpan(from * dimensions, dimensions).CopyTo(codes.AsSpan(to * dimensions, dimensions));
        scales[to] = scales[from];
    }

    public void Reserve(int capacity)
    {
        Array.Resize(ref codes, capacity * dimensions);
        Array.Resize(ref scales, capacity);
    }

    /// <summary>The rows (indices below <paramref name="rows"/>) of the best <paramref name="depth"/> approximate scores among
    /// those that pass <paramref name="live"/>.</summary>
    public List<int> Candidates(ReadOnlySpan<float> query, int depth, int rows, Func<int, bool> live)
    {
        var q = new sbyte[dimensions];
        Quantize(query, q);
        int parts = Math.Min(Environment.ProcessorCount, Math.Max(1, rows / 16_384));
        var best = new PriorityQueue<int, (float, int)>[parts];
        Parallel.For(0, parts, p =>
        {
            var heap = best[p] = new PriorityQueue<int, (float, int)>();
            int end = (int)((long)rows * (p + 1) / parts);
            for (int row = (int)((long)rows * p / parts); row < end; row++)
            {
                if (!live(row)) continue;
                var priority = (scales[row] * Dot(q, codes.AsSpan(row * dimensions, dimensions)), -row);
                if (heap.Count < depth) heap.Enqueue(row, priority);
                else if (heap.TryPeek(out _, out var worst) && Comparer<(float, int)>.Default.Compare(priority, worst) > 0)
                    heap.EnqueueDequeue(row, priority);
            }
        });
        return best.SelectMany(h => h.UnorderedItems).OrderByDescending(x => x.Priority).Take(depth).Select(x => x.Element).ToList();
    }

    /// <summary>Writes round(v × 127 / max|v|) into <paramref name="codes"/>; returns the scale max|v| / 127.</summary>
    static float Quantize(ReadOnlySpan<float> vector, Span<sbyte> codes)
    {
        float max = MathF.Abs(TensorPrimitives.MaxMagnitude(vector));   // MaxMagnitude keeps the sign
        if (max == 0) { codes.Clear(); return 0; }
        float toCode = 127f / max;
        for (int i = 0; i < vector.Length; i++) codes[i] = (sbyte)MathF.Round(vector[i] * toCode);
        return max / 127f;
    }

    /// <summary>Σ a·b over int8 lanes: widened to int16, multiplied and pairwise added into int32 (vpmaddwd).</summary>
    internal static int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        int i = 0, sum = 0;
        ref sbyte ra = ref MemoryMarshal.GetReference(a), rb = ref MemoryMarshal.GetReference(b);
        if (Avx512BW.IsSupported)
        {
            var acc = Vector512<int>.Zero;
            for (; i + 64 <= a.Length; i += 64)
            {
                var (alo, ahi) = Vector512.Widen(Vector512.LoadUnsafe(ref ra, (nuint)i));
                var (blo, bhi) = Vector512.Widen(Vector512.LoadUnsafe(ref rb, (nuint)i));
                acc += Avx512BW.MultiplyAddAdjacent(alo, blo) + Avx512BW.MultiplyAddAdjacent(ahi, bhi);
            }
            sum = Vector512.Sum(acc);
        }
        else if (Avx2.IsSupported)
        {
            var acc = Vector256<int>.Zero;
            for (; i + 32 <= a.Length; i += 32)
            {
                var (alo, ahi) = Vector256.Widen(Vector256.LoadUnsafe(ref ra, (nuint)i));
                var (blo, bhi) = Vector256.Widen(Vector256.LoadUnsafe(ref rb, (nuint)i));
                acc += Avx2.MultiplyAddAdjacent(alo, blo) + Avx2.MultiplyAddAdjacent(ahi, bhi);
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}
