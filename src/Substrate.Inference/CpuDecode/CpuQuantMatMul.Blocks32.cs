using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Q4_0, Q5_0 and Q8_0 rows (32 values a block, one fp16 scale) times Q8_0 activation rows, four weight rows at a time:
/// the four rows are unpacked once into unsigned bytes u = q + offset (offset 8, 16, 128) and fp32 scales, then the
/// activation rows run over them two at a time, the eight accumulators in registers. Per (weight block, activation block) the
/// integer part is one <c>dpbusd</c> started at −offset·Σq_x (the activation's four-value sums, computed once for the four
/// rows): Σ u·q_x − offset·Σq_x = Σ (q − offset)·q_x, the same int32 lanes as the batch-1 kernel's <c>SumProducts</c>;
/// then fma(d_w·d_x, lanes, acc) block after block and <c>hsum_float_8</c> — the batch-1 dot product bit for bit.
/// </summary>
public static unsafe partial class CpuQuantMatMul
{
    private const int TileRows = 4;

    /// <summary>Rows [start, end) of a Q4_0 / Q5_0 / Q8_0 matrix · n Q8_0 inputs. Q8_0's u reaches 255, which only
    /// <c>dpbusd</c> multiplies exactly (the caller sends Q8_0 here with AVX-VNNI or AVX-512 only; the 512-bit path uses |w|
    /// and the sign of w instead).</summary>
    private static void MatMulSigned(in WeightMatrix w, int start, int end, nint* inputs, int n, float* y, long yStride)
    {
        var blocks = w.Cols / CpuQuantKernels.Q8_0Values;
        var values = stackalloc Vector256<byte>[TileRows * blocks]; // (blocks, 4): the tile's values, q + offset
        var scales = stackalloc float[TileRows * blocks];           // (blocks, 4): d_w
        var offset = Vector256.Create((byte)(w.Format switch { WeightFormat.Q4_0 => 8, WeightFormat.Q5_0 => 16, _ => 128 }));
        var (wide, q8) = (Avx512BW.IsSupported, w.Format == WeightFormat.Q8_0);
        var doubled = stackalloc Vector512<byte>[wide ? 2 * TileRows * blocks : 0]; // (blocks, 4[, 2]): each vector twice
        var r = start;
        for (; r + TileRows <= end; r += TileRows)
        {
            for (var k = 0; k < TileRows; k++) UnpackSigned(w, r + k, values + k, scales + k);
            if (wide) Double(values, doubled, TileRows * blocks, q8);
            for (var i = 0; i < n; i += 2) // two inputs at a time; an odd last one goes twice (the same sums, written twice)
            {
                var next = Math.Min(i + 1, n - 1);
                byte* x0 = (byte*)inputs[i], x1 = (byte*)inputs[next];
                float* y0 = y + i * yStride + r - start, y1 = y + next * yStride + r - start;
                if (wide && q8) SignedTileWideQ8_0(doubled, scales, blocks, x0, x1, y0, y1);
                else if (wide) SignedTileWide(doubled, scales, blocks, offset, x0, x1, y0, y1);
                else SignedTile(values, scales, blocks, offset, x0, x1, y0, y1);
            }
        }
        ref readonly var format = ref CpuBlockFormats.For(w.Format);
        for (; r < end; r++) // the rows after the last whole tile: the batch-1 kernel
            for (var i = 0; i < n; i++) y[i * yStride + r - start] = format.Dot(w.RowData(r), (byte*)inputs[i], blocks);
    }

    /// <summary>Row <paramref name="row"/>'s blocks as unsigned bytes (q + offset) and fp32 scales, at every fourth
    /// element of <paramref name="values"/> and <paramref name="scales"/> (the tile's four rows interleaved).</summary>
    private static void UnpackSigned(in WeightMatrix w, int row, Vector256<byte>* values, float* scales)
    {
        var blocks = w.Cols / CpuQuantKernels.Q8_0Values;
        var bytes = CpuBlockFormats.For(w.Format).Bytes;
        var data = w.RowData(row);
        for (var b = 0; b < blocks; b++)
        {
            var block = data + (long)b * bytes;
            scales[TileRows * b] = CpuHalf.ToSingle(block);
            values[TileRows * b] = w.Format switch
            {
                WeightFormat.Q8_0 => Vector256.Load(block + 2) ^ Vector256.Create((byte)0x80), // q + 128 as a byte
                WeightFormat.Q5_0 => CpuQ4Q5Kernels.Unpack(block + 2, fifthBits: true),
                _ => CpuQ4Q5Kernels.Unpack(block + 2, fifthBits: false),
            };
        }
    }

    /// <summary>Two activation rows (Q8_0 blocks at <paramref name="x0"/>, <paramref name="x1"/>) · the four unpacked rows
    /// into y0[0..4) and y1[0..4): eight accumulators, each weight vector loaded once for both.</summary>
    private static void SignedTile(Vector256<byte>* values, float* scales, int blocks, Vector256<byte> offset, byte* x0, byte* x1,
        float* y0, float* y1)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        var end = x0 + (long)blocks * CpuQuantKernels.Q8_0Bytes;
        for (; x0 < end; x0 += CpuQuantKernels.Q8_0Bytes, x1 += CpuQuantKernels.Q8_0Bytes, values += TileRows, scales += TileRows)
        {
            var (q0, q1) = (Vector256.Load((sbyte*)(x0 + 2)), Vector256.Load((sbyte*)(x1 + 2)));
            var (dx0, dx1) = (Vector256.Create(CpuHalf.ToSingle(x0)), Vector256.Create(CpuHalf.ToSingle(x1)));
            var start0 = Vector256<int>.Zero - AddProducts(Vector256<int>.Zero, offset, q0); // −offset·Σq per four values
            var start1 = Vector256<int>.Zero - AddProducts(Vector256<int>.Zero, offset, q1);
            var (u, d) = (values[0], Vector256.Create(scales[0]));
            a0 = Fma.MultiplyAdd(d * dx0, Avx.ConvertToVector256Single(AddProducts(start0, u, q0)), a0);
            b0 = Fma.MultiplyAdd(d * dx1, Avx.ConvertToVector256Single(AddProducts(start1, u, q1)), b0);
            (u, d) = (values[1], Vector256.Create(scales[1]));
            a1 = Fma.MultiplyAdd(d * dx0, Avx.ConvertToVector256Single(AddProducts(start0, u, q0)), a1);
            b1 = Fma.MultiplyAdd(d * dx1, Avx.ConvertToVector256Single(AddProducts(start1, u, q1)), b1);
            (u, d) = (values[2], Vector256.Create(scales[2]));
            a2 = Fma.MultiplyAdd(d * dx0, Avx.ConvertToVector256Single(AddProducts(start0, u, q0)), a2);
            b2 = Fma.MultiplyAdd(d * dx1, Avx.ConvertToVector256Single(AddProducts(start1, u, q1)), b2);
            (u, d) = (values[3], Vector256.Create(scales[3]));
            a3 = Fma.MultiplyAdd(d * dx0, Avx.ConvertToVector256Single(AddProducts(start0, u, q0)), a3);
            b3 = Fma.MultiplyAdd(d * dx1, Avx.ConvertToVector256Single(AddProducts(start1, u, q1)), b3);
        }
        (y0[0], y0[1], y0[2], y0[3]) = (CpuQuantKernels.SumLanes(a0), CpuQuantKernels.SumLanes(a1), CpuQuantKernels.SumLanes(a2), CpuQuantKernels.SumLanes(a3));
        (y1[0], y1[1], y1[2], y1[3]) = (CpuQuantKernels.SumLanes(b0), CpuQuantKernels.SumLanes(b1), CpuQuantKernels.SumLanes(b2), CpuQuantKernels.SumLanes(b3));
    }

    /// <summary><see cref="SignedTile"/> in 512-bit vectors (AVX-512BW): lanes 0–7 are input x0's, lanes 8–15 input
    /// x1's, every operation lane by lane, so each half holds exactly the 256-bit kernel's lanes; the integer sums by
    /// <c>maddubs</c> then <c>madd</c> (no 512-bit <c>dpbusd</c> here), exact for Q4_0/Q5_0's u ≤ 31.</summary>
    private static void SignedTileWide(Vector512<byte>* values, float* scales, int blocks, Vector256<byte> offset256, byte* x0, byte* x1,
        float* y0, float* y1)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var (offset, ones) = (Vector512.Create(offset256, offset256), Vector512.Create((short)1));
        var end = x0 + (long)blocks * CpuQuantKernels.Q8_0Bytes;
        for (; x0 < end; x0 += CpuQuantKernels.Q8_0Bytes, x1 += CpuQuantKernels.Q8_0Bytes, values += TileRows, scales += TileRows)
        {
            var q = Vector512.Create(Vector256.Load((sbyte*)(x0 + 2)), Vector256.Load((sbyte*)(x1 + 2)));
            var dx = Vector512.Create(Vector256.Create(CpuHalf.ToSingle(x0)), Vector256.Create(CpuHalf.ToSingle(x1)));
            var start = Vector512<int>.Zero - Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(offset, q), ones);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[0]) * dx,
                Avx512F.ConvertToVector512Single(start + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(values[0], q), ones)), a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[1]) * dx,
                Avx512F.ConvertToVector512Single(start + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(values[1], q), ones)), a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[2]) * dx,
                Avx512F.ConvertToVector512Single(start + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(values[2], q), ones)), a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[3]) * dx,
                Avx512F.ConvertToVector512Single(start + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(values[3], q), ones)), a3);
        }
        WriteHalves(a0, a1, a2, a3, y0, y1);
    }

    /// <summary>The tile's value vectors twice in a 512-bit vector (one for each of two inputs); for Q8_0 (u = w + 128)
    /// as |w| and the mask of w &lt; 0, a pair per vector.</summary>
    private static void Double(Vector256<byte>* values, Vector512<byte>* doubled, int count, bool q8)
    {
        for (var j = 0; j < count; j++)
        {
            if (!q8)
            {
                doubled[j] = Vector512.Create(values[j], values[j]);
                continue;
            }
            var w = (values[j] ^ Vector256.Create((byte)0x80)).AsSByte();
            var (magnitude, negative) = (Vector256.Abs(w).AsByte(), Vector256.LessThan(w, Vector256<sbyte>.Zero).AsByte());
            (doubled[2 * j], doubled[2 * j + 1]) = (Vector512.Create(magnitude, magnitude), Vector512.Create(negative, negative));
        }
    }

    /// <summary>Q8_0 rows in 512-bit lanes as <see cref="SignedTileWide"/>: Σ |w|·(±q_x), q_x negated where w &lt; 0 — the
    /// batch-1 kernel's sign trick, exact in <c>maddubs</c> (|w| ≤ 128, |q_x| ≤ 127: 2·128·127 fits int16).</summary>
    private static void SignedTileWideQ8_0(Vector512<byte>* values, float* scales, int blocks, byte* x0, byte* x1, float* y0, float* y1)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var ones = Vector512.Create((short)1);
        var end = x0 + (long)blocks * CpuQuantKernels.Q8_0Bytes;
        for (; x0 < end; x0 += CpuQuantKernels.Q8_0Bytes, x1 += CpuQuantKernels.Q8_0Bytes, values += 2 * TileRows, scales += TileRows)
        {
            var q = Vector512.Create(Vector256.Load((sbyte*)(x0 + 2)), Vector256.Load((sbyte*)(x1 + 2)));
            var negated = Vector512<sbyte>.Zero - q;
            var dx = Vector512.Create(Vector256.Create(CpuHalf.ToSingle(x0)), Vector256.Create(CpuHalf.ToSingle(x1)));
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[0]) * dx, Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(
                Avx512BW.MultiplyAddAdjacent(values[0], Vector512.ConditionalSelect(values[1].AsSByte(), negated, q)), ones)), a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[1]) * dx, Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(
                Avx512BW.MultiplyAddAdjacent(values[2], Vector512.ConditionalSelect(values[3].AsSByte(), negated, q)), ones)), a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[2]) * dx, Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(
                Avx512BW.MultiplyAddAdjacent(values[4], Vector512.ConditionalSelect(values[5].AsSByte(), negated, q)), ones)), a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(scales[3]) * dx, Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(
                Avx512BW.MultiplyAddAdjacent(values[6], Vector512.ConditionalSelect(values[7].AsSByte(), negated, q)), ones)), a3);
        }
        WriteHalves(a0, a1, a2, a3, y0, y1);
    }

    /// <summary>hsum_float_8 of each accumulator's low half into y0[0..4), of its high half into y1[0..4).</summary>
    private static void WriteHalves(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3, float* y0, float* y1)
    {
        (y0[0], y0[1], y0[2], y0[3]) = (CpuQuantKernels.SumLanes(a0.GetLower()), CpuQuantKernels.SumLanes(a1.GetLower()),
            CpuQuantKernels.SumLanes(a2.GetLower()), CpuQuantKernels.SumLanes(a3.GetLower()));
        (y1[0], y1[1], y1[2], y1[3]) = (CpuQuantKernels.SumLanes(a0.GetUpper()), CpuQuantKernels.SumLanes(a1.GetUpper()),
            CpuQuantKernels.SumLanes(a2.GetUpper()), CpuQuantKernels.SumLanes(a3.GetUpper()));
    }
}
