using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Q4_K, Q5_K and Q6_K rows times Q8_K activation rows, four weight rows at a time, block by block: a block of the four
/// rows is unpacked once — its 256 values as unsigned bytes in eight 32-value chunks, each chunk's scales as int16 lanes,
/// the int16 coefficients of the activation's sixteen 16-sums (Q4_K/Q5_K: each sub-block's min, twice; Q6_K: its 16
/// scales), d and the correction's scale m (dmin; Q6_K: 32·d) — then every activation row multiplies it:
/// lanes = Σ_chunks madd(maddubs(u, q_x), scales) (the batch-1 kernel's int32 lanes; <c>dpwssd</c> adds them),
/// acc = fma(d·d_x, lanes, acc), corr = fma(−(m·d_x), Σ coefficients·sums, corr), block after block, and at the end
/// hsum(acc) (+ 0 for Q4_K/Q5_K, as their kernel adds its scalar part) + corr — the batch-1 dot product bit for bit
/// (32·d·d_x is −32·(d·d_x) exactly: a power of two).
/// </summary>
public static unsafe partial class CpuQuantMatMul
{
    /// <summary>A K-quant block of one row, unpacked for <see cref="KTile"/>.</summary>
    private struct KBlock
    {
        public Vector256<byte> V0, V1, V2, V3, V4, V5, V6, V7;         // the values of chunks 0…7, unsigned
        public Vector256<short> S0, S1, S2, S3, S4, S5, S6, S7;        // each chunk's scales, one per int16 lane
        public Vector256<short> Coefficients;                          // of the activation's sixteen 16-sums
        public float D, M;
    }

    /// <summary>Rows [start, end) of a Q4_K / Q5_K / Q6_K matrix · n Q8_K inputs.</summary>
    private static void MatMulK(in WeightMatrix w, int start, int end, nint* inputs, int n, float* y, long yStride)
    {
        var blocks = w.Cols / CpuKQuantKernels.Values;
        var tile = stackalloc KBlock[TileRows];
        var acc = stackalloc Vector256<float>[TileRows * n]; // (n, 4)
        var corrections = stackalloc float[TileRows * n];    // (n, 4)
        var plusZero = w.Format != WeightFormat.Q6_K;
        for (var r = start; r < end; r += TileRows)
        {
            var rows = Math.Min(TileRows, end - r);
            new Span<Vector256<float>>(acc, TileRows * n).Clear();
            new Span<float>(corrections, TileRows * n).Clear();
            for (var b = 0; b < blocks; b++)
            {
                for (var k = 0; k < rows; k++) UnpackK(w.Format, w.RowData(r + k) + (long)b * w.RowBytes / blocks, tile + k);
                for (var i = 0; i < n; i++)
                    KTile(tile, rows, (byte*)inputs[i] + (long)b * CpuKQuantKernels.Q8_KBytes, acc + i * TileRows, corrections + i * TileRows);
            }
            for (var i = 0; i < n; i++)
                for (var k = 0; k < rows; k++)
                {
                    var lanes = CpuQuantKernels.SumLanes(acc[i * TileRows + k]);
                    y[i * yStride + r + k - start] = (plusZero ? lanes + 0f : lanes) + corrections[i * TileRows + k];
                }
        }
    }

    /// <summary>One Q8_K block of an activation row · the tile's unpacked blocks, into the rows' accumulators.</summary>
    private static void KTile(KBlock* tile, int rows, byte* x, Vector256<float>* acc, float* corrections)
    {
        var dx = *(float*)x;
        var q = (sbyte*)(x + 4);
        var sums = Vector256.Load((short*)(x + 4 + CpuKQuantKernels.Values));
        var (q0, q1, q2, q3) = (Vector256.Load(q), Vector256.Load(q + 32), Vector256.Load(q + 64), Vector256.Load(q + 96));
        var (q4, q5, q6, q7) = (Vector256.Load(q + 128), Vector256.Load(q + 160), Vector256.Load(q + 192), Vector256.Load(q + 224));
        for (var k = 0; k < rows; k++)
        {
            ref var t = ref tile[k];
            // Four independent chains of integer sums (exact: any order gives the same int32 lanes), not one of eight.
            var even = AddProducts(Vector256<int>.Zero, Avx2.MultiplyAddAdjacent(t.V0, q0), t.S0);
            var odd = AddProducts(Vector256<int>.Zero, Avx2.MultiplyAddAdjacent(t.V1, q1), t.S1);
            var even2 = AddProducts(Vector256<int>.Zero, Avx2.MultiplyAddAdjacent(t.V2, q2), t.S2);
            var odd2 = AddProducts(Vector256<int>.Zero, Avx2.MultiplyAddAdjacent(t.V3, q3), t.S3);
            even = AddProducts(even, Avx2.MultiplyAddAdjacent(t.V4, q4), t.S4);
            odd = AddProducts(odd, Avx2.MultiplyAddAdjacent(t.V5, q5), t.S5);
            even2 = AddProducts(even2, Avx2.MultiplyAddAdjacent(t.V6, q6), t.S6);
            odd2 = AddProducts(odd2, Avx2.MultiplyAddAdjacent(t.V7, q7), t.S7);
            var lanes = (even + odd) + (even2 + odd2);
            acc[k] = Fma.MultiplyAdd(Vector256.Create(t.D * dx), Avx.ConvertToVector256Single(lanes), acc[k]);
            var correction = Avx2.MultiplyAddAdjacent(sums, t.Coefficients);
            corrections[k] = MathF.FusedMultiplyAdd(-(t.M * dx), Vector256.Sum(correction), corrections[k]);
        }
    }

    /// <summary>A Q4_K / Q5_K / Q6_K block at <paramref name="block"/> unpacked into <paramref name="t"/>.</summary>
    private static void UnpackK(WeightFormat format, byte* block, KBlock* t)
    {
        var chunks = (Vector256<byte>*)t;
        var scales = (Vector256<short>*)t + 8;
        if (format == WeightFormat.Q6_K)
        {
            UnpackQ6_K(block, chunks, scales);
            var q6Scales = Vector128.Load((sbyte*)(block + 192));
            t->Coefficients = Avx2.ConvertToVector256Int16(q6Scales);
            t->D = CpuHalf.ToSingle(block + 208);
            t->M = 32 * t->D;
            return;
        }
        var mins = stackalloc short[16];
        for (var j = 0; j < 8; j++)
        {
            var (scale, min) = CpuKQuantKernels.ScaleMin(block + 4, j);
            scales[j] = Vector256.Create((short)scale);
            mins[2 * j] = mins[2 * j + 1] = (short)min;
        }
        t->Coefficients = Vector256.Load(mins);
        (t->D, t->M) = (CpuHalf.ToSingle(block), CpuHalf.ToSingle(block + 2));
        var fifthBits = format == WeightFormat.Q5_K;
        var qs = block + (fifthBits ? 48 : 16);
        var (low, one) = (Vector256.Create((byte)0xF), Vector256.Create((byte)1));
        var high = fifthBits ? Vector256.Load(block + 16).AsUInt16() : default;
        for (var jj = 0; jj < 4; jj++) // values 64jj …: sub-block 2jj in the low nibbles, 2jj + 1 in the high ones
        {
            var packed = Vector256.Load(qs + 32 * jj);
            chunks[2 * jj] = packed & low;
            chunks[2 * jj + 1] = Vector256.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & low;
            if (!fifthBits) continue;
            chunks[2 * jj] |= Vector256.ShiftLeft((Vector256.ShiftRightLogical(high, 2 * jj).AsByte() & one).AsUInt16(), 4).AsByte();
            chunks[2 * jj + 1] |= Vector256.ShiftLeft((Vector256.ShiftRightLogical(high, 2 * jj + 1).AsByte() & one).AsUInt16(), 4).AsByte();
        }
    }

    /// <summary>A Q6_K block's values (0…63, the value + 32) in chunks of 32 and each chunk's two scales (16 values each).</summary>
    private static void UnpackQ6_K(byte* block, Vector256<byte>* chunks, Vector256<short>* scales)
    {
        var (low, two) = (Vector256.Create((byte)0xF), Vector256.Create((byte)3));
        var q6Scales = (sbyte*)(block + 192);
        for (var h = 0; h < 2; h++) // 128 values each: ql[64h..64h+64), qh[32h..32h+32)
        {
            var (ql0, ql1) = (Vector256.Load(block + 64 * h), Vector256.Load(block + 64 * h + 32));
            var qh = Vector256.Load(block + 128 + 32 * h).AsUInt16();
            for (var k = 0; k < 4; k++) // values 128h + 32k …: low or high nibbles of ql0/ql1, bits 2k, 2k+1 of qh
            {
                var nibbles = k % 2 == 0 ? ql0 : ql1;
                nibbles = k < 2 ? nibbles & low : Vector256.ShiftRightLogical(nibbles.AsUInt16(), 4).AsByte() & low;
                var high = Vector256.ShiftRightLogical(qh, 2 * k).AsByte() & two;
                var c = 4 * h + k;
                chunks[c] = nibbles | Vector256.ShiftLeft(high.AsUInt16(), 4).AsByte();
                scales[c] = Vector256.Create(Vector128.Create((short)q6Scales[2 * c]), Vector128.Create((short)q6Scales[2 * c + 1]));
            }
        }
    }
}
