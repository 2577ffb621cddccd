using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
        if (w.Format == WeightFormat.Q4_K && n > 1 && Avx2.IsSupported && Fma.IsSupported && n <= MaxFusedRows)
        {
            MatMulQ4_K(w, start, end, inputs, n, y, yStride);
            return;
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

    private const int MaxFusedRows = 256;

    /// <summary>Q4_K rows · N Q8_K inputs with each weight block unpacked once for all N: its scales and mins, its nibbles
    /// split into low and high vectors; then per input row the exact operations of <see cref="CpuKQuantKernels.DotQ4_K"/>'s
    /// AVX2 path (integer sums, then d·sumi into eight fp32 lanes and −dmin·summins, block after block), so each output
    /// equals the batch-1 dot product bit for bit.</summary>
    private static void MatMulQ4_K(in WeightMatrix w, int start, int end, nint* inputs, int n, float* y, long yStride)
    {
        var blocks = w.Cols / CpuKQuantKernels.Values;
        var acc = stackalloc Vector256<float>[n];
        var minimums = stackalloc float[n];
        var nibbles = stackalloc Vector256<byte>[8]; // (low, high) of each 32-byte quarter of the block
        var scales = stackalloc Vector256<short>[8];
        var low = Vector256.Create((byte)0xF);
        for (var r = start; r < end; r++)
        {
            for (var i = 0; i < n; i++) (acc[i], minimums[i]) = (Vector256<float>.Zero, 0f);
            for (var b = 0; b < blocks; b++)
            {
                var wb = w.RowData(r) + (long)b * CpuKQuantKernels.Q4_KBytes;
                float wd = (float)*(Half*)wb, wdmin = (float)*(Half*)(wb + 2);
                var unpacked = CpuKQuantKernels.ScalesAndMins(wb + 4); // (16) the eight scales, then the eight mins
                for (var j = 0; j < 8; j++) scales[j] = Vector256.Create(unpacked.GetElement(j));
                for (var jj = 0; jj < 4; jj++)
                {
                    var packed = Vector256.Load(wb + 16 + 32 * jj);
                    nibbles[2 * jj] = packed & low;
                    nibbles[2 * jj + 1] = Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & low;
                }
                for (var i = 0; i < n; i++)
                {
                    var xb = (byte*)inputs[i] + (long)b * CpuKQuantKernels.Q8_KBytes;
                    var dx = *(float*)xb;
                    var q8 = (sbyte*)(xb + 4);
                    var sums = (short*)(xb + 4 + CpuKQuantKernels.Values);
                    minimums[i] = MathF.FusedMultiplyAdd(-(wdmin * dx), CpuKQuantKernels.SumMins(unpacked, sums), minimums[i]);
                    var sumi = Vector256<int>.Zero;
                    for (var jj = 0; jj < 4; jj++)
                    {
                        var p0 = Avx2.MultiplyAddAdjacent(nibbles[2 * jj], Vector256.Load(q8 + 64 * jj));
                        var p1 = Avx2.MultiplyAddAdjacent(nibbles[2 * jj + 1], Vector256.Load(q8 + 64 * jj + 32));
                        sumi += Avx2.MultiplyAddAdjacent(p0, scales[2 * jj]) + Avx2.MultiplyAddAdjacent(p1, scales[2 * jj + 1]);
                    }
                    acc[i] = Fma.MultiplyAdd(Vector256.Create(wd * dx), Avx.ConvertToVector256Single(sumi), acc[i]);
                }
            }
            for (var i = 0; i < n; i++) y[i * yStride + r - start] = CpuQuantKernels.SumLanes(acc[i]) + 0f + minimums[i]; // as DotQ4_K adds
        }
    }
}
