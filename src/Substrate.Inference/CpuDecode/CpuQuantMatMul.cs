namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Many activation rows times one weight matrix, for the batched forward of <see cref="CpuDecoder"/> (a prompt chunk, or
/// one row per active sequence): each activation row is quantized once (Q8_0 / Q8_K, as the batch-1 path does), and each
/// weight row is read from memory once for all N rows — the row (a few hundred bytes to a few KB of blocks) stays in L1
/// while the N dot products run over it, instead of the whole matrix streaming through the cache N times.
/// Every output is the batch-1 kernel's dot product (<see cref="CpuKernels.Dot"/>: AVX2/VNNI or the scalar fallback)
/// on the same bytes, so row n of the product equals a matrix-vector product of row n bit for bit.
/// </summary>
public static unsafe class CpuQuantMatMul
{
    /// <summary>y[i·yStride + r − start] = weight row r · input i, for rows [start, end) and inputs [0, n); each input
    /// as <see cref="CpuKernels.Input"/> made it for <paramref name="w"/>. <paramref name="scratch"/>: Cols floats (fp16 rows).</summary>
    internal static void MatMul(in WeightMatrix w, int start, int end, nint* inputs, int n, float* y, long yStride, float* scratch)
    {
        for (var r = start; r < end; r++)
            for (var i = 0; i < n; i++)
                y[i * yStride + r - start] = CpuKernels.Dot(w, r, (float*)inputs[i], scratch);
    }

    /// <summary>y = x · Wᵀ for a (rows, cols) matrix of <paramref name="format"/> at <paramref name="weights"/> (ggml's block
    /// layout for the quantized formats): x is (n, cols) fp32, y is (n, rows). One thread; the library's entry for tests
    /// and benches — the decoder runs <see cref="MatMul"/> in chunks of rows on its worker pool.</summary>
    public static void Multiply(WeightFormat format, void* weights, int rows, int cols, float* x, int n, float* y)
    {
        var w = new WeightMatrix(weights, rows, cols, format);
        var packed = new float[(long)n * cols];
        var inputs = new nint[n];
        var scratch = new float[cols];
        fixed (float* p = packed, s = scratch)
        fixed (nint* ins = inputs)
        {
            for (var i = 0; i < n; i++) ins[i] = (nint)CpuKernels.Input(w, x + (long)i * cols, p + (long)i * cols);
            MatMul(w, 0, rows, ins, n, y, rows, s);
        }
    }
}
