using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// ggml's 32-value 4- and 5-bit blocks multiplied in place, as ggml-cpu's x86 code does it:
/// <list type="bullet">
/// <item>Q4_0 (18 bytes: fp16 d, 16 bytes of nibbles — byte j holds value j low, j + 16 high; x = d·(q − 8)) and
/// Q5_0 (22: fp16 d, the fifth bits as a uint32 — bit j: value j, then the nibbles; x = d·(q − 16)) against Q8_0
/// activations: the signed int8 products summed in 32-bit lanes, scaled by d_w·d_x into eight fp32 lanes, added in
/// <c>hsum_float_8</c> order — ggml_vec_dot_q4_0_q8_0 / q5_0_q8_0 bit for bit, as <see cref="CpuQuantKernels.DotQ8_0"/>.</item>
/// <item>Q4_1 (20: fp16 d, fp16 m, nibbles; x = d·q + m) and Q5_1 (24: d, m, fifth bits, nibbles) against Q8_1
/// activations (fp16 d, fp16 s = d·Σq, 32 int8): Σ d_w·d_x·Σq·q_x + m·s, the m·s terms added in block order after the
/// lanes (ggml's <c>summs</c>).</item>
/// </list>
/// </summary>
public static unsafe class CpuQ4Q5Kernels
{
    /// <summary>Bytes of a block of each type (32 values).</summary>
    public const int Q4_0Bytes = 18, Q4_1Bytes = 20, Q5_0Bytes = 22, Q5_1Bytes = 24, Q8_1Bytes = 36;

    private const int N = CpuQuantKernels.Q8_0Values;

    /// <summary><paramref name="n"/> floats (whole 32-blocks) → Q8_1 blocks as ggml-cpu's x86 <c>quantize_row_q8_1</c>:
    /// Q8_0's d and q, and s = fp16(d·Σq) with d unrounded.</summary>
    public static void QuantizeQ8_1(float* x, byte* y, int n)
    {
        for (var b = 0; b < n / N; b++)
        {
            var xs = x + b * N;
            var block = y + b * Q8_1Bytes;
            var amax = 0f;
            for (var i = 0; i < N; i++) amax = MathF.Max(amax, MathF.Abs(xs[i]));
            var d = amax / 127f;
            var id = amax != 0f ? 127f / amax : 0f;
            var q = (sbyte*)(block + 4);
            var sum = 0;
            for (var i = 0; i < N; i++) sum += q[i] = (sbyte)MathF.Round(xs[i] * id, MidpointRounding.ToEven);
            *(Half*)block = (Half)d;
            *(Half*)(block + 2) = (Half)(d * sum);
        }
    }

    /// <summary>Q4_0 row (<paramref name="blocks"/> blocks) · Q8_0 activations.</summary>
    public static float DotQ4_0(byte* w, byte* x, int blocks) => DotSigned(w, x, blocks, Q4_0Bytes, fifthBits: false);

    /// <summary>Q5_0 row (<paramref name="blocks"/> blocks) · Q8_0 activations.</summary>
    public static float DotQ5_0(byte* w, byte* x, int blocks) => DotSigned(w, x, blocks, Q5_0Bytes, fifthBits: true);

    /// <summary>Q4_1 row (<paramref name="blocks"/> blocks) · Q8_1 activations.</summary>
    public static float DotQ4_1(byte* w, byte* x, int blocks) => DotOffset(w, x, blocks, Q4_1Bytes, fifthBits: false);

    /// <summary>Q5_1 row (<paramref name="blocks"/> blocks) · Q8_1 activations.</summary>
    public static float DotQ5_1(byte* w, byte* x, int blocks) => DotOffset(w, x, blocks, Q5_1Bytes, fifthBits: true);

    /// <summary>Q4_0 / Q5_0: the values q − 8 / q − 16 as int8 times Q8_0's int8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotSigned(byte* w, byte* x, int blocks, int bytes, bool fifthBits)
    {
        var offset = fifthBits ? 16 : 8;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            var bias = Vector256.Create((byte)offset);
            for (var b = 0; b < blocks; b++)
            {
                byte* wb = w + b * bytes, xb = x + b * CpuQuantKernels.Q8_0Bytes;
                var d = Vector256.Create(CpuHalf.ToSingle(wb) * CpuHalf.ToSingle(xb));
                var q = (Unpack(wb + 2, fifthBits) - bias).AsSByte();
                var sums = CpuQuantKernels.SumProducts(q, Vector256.Load((sbyte*)(xb + 2)));
                acc = Fma.MultiplyAdd(d, Avx.ConvertToVector256Single(sums), acc);
            }
            return CpuQuantKernels.SumLanes(acc);
        }
        var sum = 0f;
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * bytes, xb = x + b * CpuQuantKernels.Q8_0Bytes;
            var qx = (sbyte*)(xb + 2);
            var dot = 0;
            for (var i = 0; i < N; i++) dot += (Value(wb + 2, i, fifthBits) - offset) * qx[i];
            sum += CpuHalf.ToSingle(wb) * CpuHalf.ToSingle(xb) * dot;
        }
        return sum;
    }

    /// <summary>Q4_1 / Q5_1: the unsigned values times Q8_1's int8, plus m·s per block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotOffset(byte* w, byte* x, int blocks, int bytes, bool fifthBits)
    {
        var (acc, lanes) = (0f, Vector256<float>.Zero);
        var simd = Avx2.IsSupported && Fma.IsSupported;
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * bytes, xb = x + b * Q8_1Bytes;
            acc += CpuHalf.ToSingle(wb + 2) * CpuHalf.ToSingle(xb + 2);
            var d = CpuHalf.ToSingle(wb) * CpuHalf.ToSingle(xb);
            var qx = (sbyte*)(xb + 4);
            if (simd)
            {
                var sums = SumUnsignedProducts(Unpack(wb + 4, fifthBits), Vector256.Load(qx));
                lanes = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sums), lanes);
                continue;
            }
            var dot = 0;
            for (var i = 0; i < N; i++) dot += Value(wb + 4, i, fifthBits) * qx[i];
            acc += d * dot;
        }
        return simd ? CpuQuantKernels.SumLanes(lanes) + acc : acc;
    }

    /// <summary>The 32 unsigned values of a block from its data at <paramref name="p"/> (the fifth bits' uint32 then the
    /// nibbles with <paramref name="fifthBits"/>, else the nibbles): value i in byte i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Unpack(byte* p, bool fifthBits)
    {
        var nibbles = Vector128.Load(p + (fifthBits ? 4 : 0));
        var low = Vector128.Create((byte)0xF);
        var q = Vector256.Create(nibbles & low, Vector128.ShiftRightLogical(nibbles.AsUInt16(), 4).AsByte() & low);
        if (!fifthBits) return q;
        // Byte i ← byte i/8 of the uint32 (each 128-bit lane holds the broadcast uint32), then bit i%8 of it → 0x10.
        var spread = Avx2.Shuffle(Vector256.Create(*(uint*)p).AsByte(), Vector256.Create(0UL, 0x0101010101010101UL,
            0x0202020202020202UL, 0x0303030303030303UL).AsByte());
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        return q | (Vector256.Equals(spread & bit, bit) & Vector256.Create((byte)0x10));
    }

    /// <summary>Value <paramref name="i"/> (unsigned, 0…15 or 0…31) of a block's data at <paramref name="p"/>.</summary>
    private static int Value(byte* p, int i, bool fifthBits)
    {
        var nibbles = p + (fifthBits ? 4 : 0);
        var q = i < 16 ? nibbles[i] & 0xF : nibbles[i - 16] >> 4;
        return fifthBits ? q | (int)((*(uint*)p >> i) & 1) << 4 : q;
    }

    /// <summary>Lane i = Σ u[4i..4i+3]·y[4i..4i+3] for unsigned u (≤ 31) and int8 y (ggml's mul_sum_us8_pairs).</summary>
    private static Vector256<int> SumUnsignedProducts(Vector256<byte> u, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, y);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, y), Vector256.Create((short)1));
    }

    /// <summary>y = a Q4_0 row dequantized (embedding lookups).</summary>
    public static void DequantizeQ4_0(byte* w, float* y, int n) => Dequantize(w, y, n, Q4_0Bytes, false, false);

    /// <summary>y = a Q5_0 row dequantized.</summary>
    public static void DequantizeQ5_0(byte* w, float* y, int n) => Dequantize(w, y, n, Q5_0Bytes, true, false);

    /// <summary>y = a Q4_1 row dequantized.</summary>
    public static void DequantizeQ4_1(byte* w, float* y, int n) => Dequantize(w, y, n, Q4_1Bytes, false, true);

    /// <summary>y = a Q5_1 row dequantized.</summary>
    public static void DequantizeQ5_1(byte* w, float* y, int n) => Dequantize(w, y, n, Q5_1Bytes, true, true);

    private static void Dequantize(byte* w, float* y, int n, int bytes, bool fifthBits, bool withMin)
    {
        var offset = withMin ? 0 : fifthBits ? 16 : 8;
        for (var b = 0; b < n / N; b++)
        {
            var wb = w + b * bytes;
            var d = CpuHalf.ToSingle(wb);
            var m = withMin ? CpuHalf.ToSingle(wb + 2) : 0f;
            for (var i = 0; i < N; i++)
            {
                var v = d * (Value(wb + (withMin ? 4 : 2), i, fifthBits) - offset);
                y[b * N + i] = withMin ? v + m : v;
            }
        }
    }
}
