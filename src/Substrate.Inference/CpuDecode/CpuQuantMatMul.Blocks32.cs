using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Q4_0, Q5_0 and Q8_0 rows (32 values a block, one fp16 scale) times Q8_0 activation rows, four weight rows at a time:
/// the four rows are unpacked once into unsigned bytes u = q + offset (offset 8, 16, 128) and fp32 scales, then every
/// activation row runs over them with the four accumulators in registers. Per (weight block, activation block) the
/// integer part is one <c>dpbusd</c> started at −offset·Σq_x (the activation's four-value sums, computed once for the four
/// rows): Σ u·q_x − offset·Σq_x = Σ (q − offset)·q_x, the same int32 lanes as the batch-1 kernel's <c>SumProducts</c>;
/// then fma(d_w·d_x, lanes, acc) block after block and <c>hsum_float_8</c> — the batch-1 dot product bit for bit.
/// </summary>
public static unsafe partial class CpuQuantMatMul
{
    private const int TileRows = 4;

    /// <summary>Rows [start, end) of a Q4_0 / Q5_0 / Q8_0 matrix · n Q8_0 inputs. Q8_0's u reaches 255, which only
    /// <c>dpbusd</c> multiplies exactly (the caller sends Q8_0 here with AVX-VNNI only).</summary>
    private static void MatMulSigned(in WeightMatrix w, int start, int end, nint* inputs, int n, float* y, long yStride)
    {
        var blocks = w.Cols / CpuQuantKernels.Q8_0Values;
        var values = stackalloc Vector256<byte>[TileRows * blocks]; // (4, blocks): the tile's values, q + offset
        var scales = stackalloc float[TileRows * blocks];           // (4, blocks): d_w
        var offset = Vector256.Create((byte)(w.Format switch { WeightFormat.Q4_0 => 8, WeightFormat.Q5_0 => 16, _ => 128 }));
        var r = start;
        for (; r + TileRows <= end; r += TileRows)
        {
            for (var k = 0; k < TileRows; k++) UnpackSigned(w, r + k, values + k * blocks, scales + k * blocks);
            for (var i = 0; i < n; i++)
                SignedTile(values, scales, blocks, offset, (byte*)inputs[i], y + i * yStride + r - start);
        }
        ref readonly var format = ref CpuBlockFormats.For(w.Format);
        for (; r < end; r++) // the rows after the last whole tile: the batch-1 kernel
            for (var i = 0; i < n; i++) y[i * yStride + r - start] = format.Dot(w.RowData(r), (byte*)inputs[i], blocks);
    }

    /// <summary>Row <paramref name="row"/>'s blocks as unsigned bytes (q + offset) and fp32 scales.</summary>
    private static void UnpackSigned(in WeightMatrix w, int row, Vector256<byte>* values, float* scales)
    {
        var blocks = w.Cols / CpuQuantKernels.Q8_0Values;
        var bytes = CpuBlockFormats.For(w.Format).Bytes;
        var data = w.RowData(row);
        for (var b = 0; b < blocks; b++)
        {
            var block = data + (long)b * bytes;
            scales[b] = CpuHalf.ToSingle(block);
            values[b] = w.Format switch
            {
                WeightFormat.Q8_0 => Vector256.Load(block + 2) ^ Vector256.Create((byte)0x80), // q + 128 as a byte
                WeightFormat.Q5_0 => CpuQ4Q5Kernels.Unpack(block + 2, fifthBits: true),
                _ => CpuQ4Q5Kernels.Unpack(block + 2, fifthBits: false),
            };
        }
    }

    /// <summary>One activation row (Q8_0 blocks at <paramref name="x"/>) · the four unpacked rows into y[0..4).</summary>
    private static void SignedTile(Vector256<byte>* values, float* scales, int blocks, Vector256<byte> offset, byte* x, float* y)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (var b = 0; b < blocks; b++)
        {
            var block = x + (long)b * CpuQuantKernels.Q8_0Bytes;
            var q = Vector256.Load((sbyte*)(block + 2));
            var dx = Vector256.Create(CpuHalf.ToSingle(block));
            var start = Vector256<int>.Zero - AddProducts(Vector256<int>.Zero, offset, q); // −offset·Σq per four values
            a0 = Fma.MultiplyAdd(Vector256.Create(scales[b]) * dx, Avx.ConvertToVector256Single(AddProducts(start, values[b], q)), a0);
            a1 = Fma.MultiplyAdd(Vector256.Create(scales[blocks + b]) * dx,
                Avx.ConvertToVector256Single(AddProducts(start, values[blocks + b], q)), a1);
            a2 = Fma.MultiplyAdd(Vector256.Create(scales[2 * blocks + b]) * dx,
                Avx.ConvertToVector256Single(AddProducts(start, values[2 * blocks + b], q)), a2);
            a3 = Fma.MultiplyAdd(Vector256.Create(scales[3 * blocks + b]) * dx,
                Avx.ConvertToVector256Single(AddProducts(start, values[3 * blocks + b], q)), a3);
        }
        (y[0], y[1], y[2], y[3]) = (CpuQuantKernels.SumLanes(a0), CpuQuantKernels.SumLanes(a1), CpuQuantKernels.SumLanes(a2), CpuQuantKernels.SumLanes(a3));
    }
}
