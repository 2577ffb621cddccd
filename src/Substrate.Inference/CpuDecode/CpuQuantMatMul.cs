using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Many activation rows times one weight matrix, for the batched forward of <see cref="CpuDecoder"/> (a prompt chunk, or
/// one row per active sequence): each activation row is quantized once (Q8_0 / Q8_K, as the batch-1 path does), and each
/// weight row is read from memory once for all N rows — the row (a few hundred bytes to a few KB of blocks) stays in L1
/// while the N dot products run over it, instead of the whole matrix streaming through the cache N times.
/// Every output is the batch-1 kernel's dot product (<see cref="CpuKernels.Dot"/>: AVX2/VNNI or the scalar fallback)
/// on the same bytes, so row n of the product equals a matrix-vector product of row n bit for bit. The common block types
/// have tiled kernels (llamafile's sgemm idea: a weight block unpacked once serves every activation row; the integer sums
/// and the fp32 accumulation are the batch-1 kernel's, in its order): Q4_0, Q5_0, Q8_0 (<see cref="MatMulSigned"/>) and
/// Q4_K, Q5_K, Q6_K (<see cref="MatMulK"/>); the others run the batch-1 dot product per (row, input).
/// </summary>
public static unsafe partial class CpuQuantMatMul
{
    /// <summary>y[i·yStride + r − start] = weight row r · input i, for rows [start, end) and inputs [0, n); each input
    /// as <see cref="CpuKernels.Input"/> made it for <paramref name="w"/>. <paramref name="scratch"/>: Cols floats (fp16 rows).</summary>
    internal static void MatMul(in WeightMatrix w, int start, int end, nint* inputs, int n, float* y, long yStride, float* scratch)
    {
        if (n > 1 && n <= MaxFusedRows && Avx2.IsSupported && Fma.IsSupported)
        {
            if (w.Format is WeightFormat.Q4_0 or WeightFormat.Q5_0 || (w.Format == WeightFormat.Q8_0 && (AvxVnni.IsSupported || Avx512BW.IsSupported)))
            {
                MatMulSigned(w, start, end, inputs, n, y, yStride);
                return;
            }
            if (w.Format is WeightFormat.Q4_K or WeightFormat.Q5_K or WeightFormat.Q6_K)
            {
                MatMulK(w, start, end, inputs, n, y, yStride);
                return;
            }
        }
        if (n == 1) // one row (a single stream): the batch-1 matrix-vector product
        {
            CpuKernels.MatVec(w, start, end, (float*)inputs[0], y, scratch);
            return;
        }
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

    /// <summary>Most activation rows a tiled kernel takes (its per-row accumulators are on the stack).</summary>
    private const int MaxFusedRows = 256;

    /// <summary>Lane i of <paramref name="init"/> + Σ u[4i..4i+3]·q[4i..4i+3], unsigned u times int8 q, exact in int32
    /// (AVX-VNNI <c>dpbusd</c>; else <c>maddubs</c>, exact while 2·u·|q| fits int16: u ≤ 127).</summary>
    private static Vector256<int> AddProducts(Vector256<int> init, Vector256<byte> u, Vector256<sbyte> q) => AvxVnni.IsSupported
        ? AvxVnni.MultiplyWideningAndAdd(init, u, q)
        : init + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, q), Vector256.Create((short)1));

    /// <summary>Lane i of <paramref name="init"/> + p[2i]·s[2i] + p[2i+1]·s[2i+1] (AVX-VNNI <c>dpwssd</c>, else <c>madd</c>).</summary>
    private static Vector256<int> AddProducts(Vector256<int> init, Vector256<short> p, Vector256<short> s) => AvxVnni.IsSupported
        ? AvxVnni.MultiplyWideningAndAdd(init, p, s)
        : init + Avx2.MultiplyAddAdjacent(p, s);
}
