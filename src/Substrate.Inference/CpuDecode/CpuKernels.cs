using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Substrate.Nn.Kernels;

namespace Substrate.Inference.CpuDecode;

/// <summary>How a weight matrix's elements lie in memory: a float type, or one of ggml's block types (each row whole blocks;
/// <see cref="CpuBlockFormats"/> holds their geometry and kernels). The block types come after the float ones.</summary>
public enum WeightFormat { Float32, BFloat16, Float16, Q8_0, Q4_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K }

/// <summary>A (Rows, Cols) row-major matrix in native memory owned by a torch parameter or a mapped GGUF file: a view,
/// never a copy.</summary>
internal readonly unsafe struct WeightMatrix(void* data, int rows, int cols, WeightFormat format)
{
    public readonly void* Data = data;
    public readonly int Rows = rows, Cols = cols;
    public readonly WeightFormat Format = format;

    /// <summary>Bytes from one row to the next: computed once, not per row (a 64-bit division per dot product cost a
    /// third of a 4-block Q4_K row's time).</summary>
    public readonly long RowBytes = format switch
    {
        WeightFormat.Float32 => 4L * cols,
        WeightFormat.BFloat16 or WeightFormat.Float16 => 2L * cols,
        _ => (long)cols / CpuBlockFormats.For(format).Values * CpuBlockFormats.For(format).Bytes,
    };

    public byte* RowData(int row) => (byte*)Data + row * RowBytes;
}

/// <summary>
/// The arithmetic of batch-1 decoding on raw pointers: dot products of weight rows with an fp32 vector
/// (fp32, bf16 or fp16 weights, fp32 accumulation with FMA), RMSNorm, SiLU. Each dot product is computed in
/// one fixed order whatever the caller's threading, so results do not depend on the number of workers.
/// </summary>
internal static unsafe class CpuKernels
{
    // bf16 rows are read 32 elements at a time as 16 uints: (u << 16) are the even elements as fp32 and
    // (u & 0xFFFF0000) the odd ones. The input vector is packed to match once per matrix-vector product —
    // per 32-block, its 16 even elements then its 16 odd ones — so widening costs two bit operations, no shuffle.
    private const int Bf16Block = 32;

    /// <summary>The input a row dot product of <paramref name="w"/> reads: x itself, or x packed into
    /// <paramref name="packed"/> (Cols floats) for bf16, or x quantized there to the block type's activation format (Q8_0,
    /// Q8_1 or Q8_K blocks, all smaller than Cols floats).</summary>
    public static float* Input(in WeightMatrix w, float* x, float* packed)
    {
        if (CpuBlockFormats.IsBlock(w.Format))
        {
            CpuBlockFormats.QuantizeActivations(CpuBlockFormats.For(w.Format).Activation, x, (byte*)packed, w.Cols);
            return packed;
        }
        if (w.Format != WeightFormat.BFloat16) return x;
        var n = w.Cols;
        var full = n - n % Bf16Block;
        for (var b = 0; b < full; b += Bf16Block)
            for (var i = 0; i < Bf16Block / 2; i++)
            {
                packed[b + i] = x[b + 2 * i];
                packed[b + Bf16Block / 2 + i] = x[b + 2 * i + 1];
            }
        for (var i = full; i < n; i++) packed[i] = x[i];
        return packed;
    }

    /// <summary>Row <paramref name="row"/> of w · input (from <see cref="Input"/>); <paramref name="scratch"/>
    /// (Cols floats) holds an fp16 row widened to fp32.</summary>
    public static float Dot(in WeightMatrix w, int row, float* input, float* scratch)
    {
        var n = w.Cols;
        switch (w.Format)
        {
            case WeightFormat.Float32:
                return DotFloat32((float*)w.Data + (long)row * n, input, n);
            case WeightFormat.BFloat16:
                return DotBFloat16((ushort*)w.Data + (long)row * n, input, n);
            case WeightFormat.Float16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)w.Data + (long)row * n, n), new Span<float>(scratch, n));
                return DotFloat32(scratch, input, n);
            default:
                ref readonly var block = ref CpuBlockFormats.For(w.Format);
                return block.Dot(w.RowData(row), (byte*)input, n / block.Values);
        }
    }

    /// <summary>Whether rows of <paramref name="a"/> and <paramref name="b"/> read the same <see cref="Input"/> (one
    /// quantized copy of x serves every block type of the same activation format).</summary>
    public static bool SameInput(WeightFormat a, WeightFormat b) => a == b
        || (CpuBlockFormats.IsBlock(a) && CpuBlockFormats.IsBlock(b) && CpuBlockFormats.For(a).Activation == CpuBlockFormats.For(b).Activation);

    /// <summary>y[i] = row start+i of w · input (from <see cref="Input"/>) for rows [start, end). One row at a time:
    /// a four-row kernel sharing the input loads measured slower here (22 vs 27 GB/s, fp32, one core).</summary>
    public static void MatVec(in WeightMatrix w, int start, int end, float* input, float* y, float* scratch)
    {
        if (CpuBlockFormats.IsBlock(w.Format)) // the block type's kernel looked up once, not per row
        {
            ref readonly var block = ref CpuBlockFormats.For(w.Format);
            var dot = block.Dot;
            var (blocks, stride) = (w.Cols / block.Values, w.RowBytes);
            var row = w.RowData(start);
            for (var r = start; r < end; r++, row += stride) y[r - start] = dot(row, (byte*)input, blocks);
            return;
        }
        for (var r = start; r < end; r++) y[r - start] = Dot(w, r, input, scratch);
    }

    public static float DotFloat32(float* w, float* x, int n)
    {
        var i = 0;
        float sum;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 64 <= n; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 16), Vector512.Load(x + i + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 32), Vector512.Load(x + i + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 48), Vector512.Load(x + i + 48), a3);
            }
            for (; i + 16 <= n; i += 16) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), a0);
            sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 8), Vector256.Load(x + i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 16), Vector256.Load(x + i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 24), Vector256.Load(x + i + 24), a3);
            }
            for (; i + 8 <= n; i += 8) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), a0);
            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        else
        {
            return TensorPrimitives.Dot(new ReadOnlySpan<float>(w, n), new ReadOnlySpan<float>(x, n));
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(w[i], x[i], sum);
        return sum;
    }

    /// <summary>bf16 row · packed fp32 input (see <see cref="Input"/>).</summary>
    public static float DotBFloat16(ushort* w, float* x, int n)
    {
        var i = 0;
        var sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            var high = Vector512.Create(0xFFFF0000u);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 2 * Bf16Block <= n; i += 2 * Bf16Block)
            {
                var u0 = Vector512.Load((uint*)(w + i));             // elements i … i+31
                var u1 = Vector512.Load((uint*)(w + i + Bf16Block)); // elements i+32 … i+63
                a0 = Vector512.FusedMultiplyAdd((u0 << 16).AsSingle(), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd((u0 & high).AsSingle(), Vector512.Load(x + i + 16), a1);
                a2 = Vector512.FusedMultiplyAdd((u1 << 16).AsSingle(), Vector512.Load(x + i + 32), a2);
                a3 = Vector512.FusedMultiplyAdd((u1 & high).AsSingle(), Vector512.Load(x + i + 48), a3);
            }
            for (; i + Bf16Block <= n; i += Bf16Block)
            {
                var u = Vector512.Load((uint*)(w + i));
                a0 = Vector512.FusedMultiplyAdd((u << 16).AsSingle(), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd((u & high).AsSingle(), Vector512.Load(x + i + 16), a1);
            }
            sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var high = Vector256.Create(0xFFFF0000u);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + Bf16Block <= n; i += Bf16Block)
            {
                var u0 = Vector256.Load((uint*)(w + i));      // elements i … i+15: evens → packed[0..8), odds → packed[16..24)
                var u1 = Vector256.Load((uint*)(w + i + 16)); // elements i+16 … i+31: evens → packed[8..16), odds → packed[24..32)
                a0 = Vector256.FusedMultiplyAdd((u0 << 16).AsSingle(), Vector256.Load(x + i), a0);
                a1 = Vector256.FusedMultiplyAdd((u1 << 16).AsSingle(), Vector256.Load(x + i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd((u0 & high).AsSingle(), Vector256.Load(x + i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd((u1 & high).AsSingle(), Vector256.Load(x + i + 24), a3);
            }
            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        else
        {
            for (; i + Bf16Block <= n; i += Bf16Block)
                for (var j = 0; j < Bf16Block / 2; j++)
                {
                    sum = MathF.FusedMultiplyAdd(BFloat16Bits.ToSingle(w[i + 2 * j]), x[i + j], sum);
                    sum = MathF.FusedMultiplyAdd(BFloat16Bits.ToSingle(w[i + 2 * j + 1]), x[i + Bf16Block / 2 + j], sum);
                }
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(BFloat16Bits.ToSingle(w[i]), x[i], sum);
        return sum;
    }

    /// <summary>y += a · x over n floats (attention's weighted sum of values: one call per position, so no span
    /// plumbing in the way of a 64-float head).</summary>
    public static void AddScaled(float* x, float a, float* y, int n)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var scale = Vector512.Create(a);
            for (; i + 16 <= n; i += 16) Vector512.FusedMultiplyAdd(Vector512.Load(x + i), scale, Vector512.Load(y + i)).Store(y + i);
        }
        for (; i < n; i++) y[i] = MathF.FusedMultiplyAdd(x[i], a, y[i]);
    }

    /// <summary>y = row <paramref name="row"/> of w as fp32 (embedding lookups).</summary>
    public static void Row(in WeightMatrix w, int row, float* y)
    {
        var n = w.Cols;
        switch (w.Format)
        {
            case WeightFormat.Float32:
                new ReadOnlySpan<float>((float*)w.Data + (long)row * n, n).CopyTo(new Span<float>(y, n));
                break;
            case WeightFormat.BFloat16:
                for (var i = 0; i < n; i++) y[i] = BFloat16Bits.ToSingle(((ushort*)w.Data)[(long)row * n + i]);
                break;
            case WeightFormat.Float16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)w.Data + (long)row * n, n), new Span<float>(y, n));
                break;
            default:
                CpuBlockFormats.For(w.Format).Dequantize(w.RowData(row), y, n);
                break;
        }
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight, in fp32 like <c>RmsNorm</c>.</summary>
    public static void RmsNorm(float* x, float* weight, float* y, int n, float eps)
    {
        var xs = new ReadOnlySpan<float>(x, n);
        var ys = new Span<float>(y, n);
        var inverseRms = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xs) / n + eps);
        TensorPrimitives.Multiply(xs, inverseRms, ys);
        TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(weight, n), ys);
    }

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    /// <summary><paramref name="value"/> rounded to the precision of <paramref name="format"/> (nearest, ties to even), as fp32.</summary>
    public static float Round(float value, WeightFormat format)
    {
        switch (format)
        {
            case WeightFormat.Float16: return (float)(Half)value;
            case WeightFormat.BFloat16:
                var bits = BitConverter.SingleToUInt32Bits(value);
                bits += 0x7FFFu + ((bits >> 16) & 1u);
                return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
            default: return value;
        }
    }

    /// <summary>GELU, tanh approximation (gelu_pytorch_tanh): x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³))).</summary>
    public static float GeluTanh(float x) => 0.5f * x * (1f + MathF.Tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
