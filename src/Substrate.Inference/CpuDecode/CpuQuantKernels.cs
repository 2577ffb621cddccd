using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Integer dot products of ggml's quantized blocks, computed in place on the file's bytes: a Q8_0 weight row against
/// the activation vector quantized to Q8_0 once per matrix-vector product (ggml's vec_dot_type for Q8_0), as
/// ggml-cpu's x86 code does it — the int8 products summed in 32-bit lanes (AVX2 <c>maddubs</c>/<c>madd</c>, or
/// AVX-VNNI <c>dpbusd</c> where supported), each block's lanes scaled by d_w·d_x into eight fp32 accumulators, and
/// those added in ggml's <c>hsum_float_8</c> order — so a dot product equals ggml_vec_dot_q8_0_q8_0's bit for bit.
/// The scalar fallback sums each block's integer dot product exactly, then in block order.
/// </summary>
public static unsafe class CpuQuantKernels
{
    /// <summary>Q8_0: 32 values per block, an fp16 scale then 32 int8 (34 bytes).</summary>
    public const int Q8_0Values = 32, Q8_0Bytes = 34;

    /// <summary><paramref name="n"/> floats (whole 32-blocks) → Q8_0 blocks as ggml-cpu's x86 <c>quantize_row_q8_0</c>:
    /// d = amax/127 rounded to fp16, q = x·(127/amax) rounded half to even.</summary>
    public static void QuantizeQ8_0(float* x, byte* y, int n)
    {
        for (var b = 0; b < n / Q8_0Values; b++)
        {
            var xs = x + b * Q8_0Values;
            var block = y + b * Q8_0Bytes;
            var amax = 0f;
            for (var i = 0; i < Q8_0Values; i++) amax = MathF.Max(amax, MathF.Abs(xs[i]));
            *(Half*)block = (Half)(amax / 127f);
            var id = amax != 0f ? 127f / amax : 0f;
            var q = (sbyte*)(block + 2);
            for (var i = 0; i < Q8_0Values; i++) q[i] = (sbyte)MathF.Round(xs[i] * id, MidpointRounding.ToEven);
        }
    }

    /// <summary>Q8_0 row (<paramref name="blocks"/> blocks) · Q8_0 activations.</summary>
    public static float DotQ8_0(byte* w, byte* x, int blocks)
    {
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (var b = 0; b < blocks; b++)
            {
                byte* wb = w + b * Q8_0Bytes, xb = x + b * Q8_0Bytes;
                var d = Vector256.Create(CpuHalf.ToSingle(wb) * CpuHalf.ToSingle(xb));
                var sums = SumProducts(Vector256.Load((sbyte*)(wb + 2)), Vector256.Load((sbyte*)(xb + 2)));
                acc = Fma.MultiplyAdd(d, Avx.ConvertToVector256Single(sums), acc);
            }
            return SumLanes(acc);
        }
        var sum = 0f;
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * Q8_0Bytes, xb = x + b * Q8_0Bytes;
            sbyte* qw = (sbyte*)(wb + 2), qx = (sbyte*)(xb + 2);
            var dot = 0;
            for (var i = 0; i < Q8_0Values; i++) dot += qw[i] * qx[i];
            sum += CpuHalf.ToSingle(wb) * CpuHalf.ToSingle(xb) * dot;
        }
        return sum;
    }

    /// <summary>y = a Q8_0 row dequantized (embedding lookups): d · q.</summary>
    public static void DequantizeQ8_0(byte* w, float* y, int n)
    {
        for (var b = 0; b < n / Q8_0Values; b++)
        {
            var block = w + b * Q8_0Bytes;
            var d = CpuHalf.ToSingle(block);
            var q = (sbyte*)(block + 2);
            for (var i = 0; i < Q8_0Values; i++) y[b * Q8_0Values + i] = d * q[i];
        }
    }

    /// <summary>Lane i = Σ x[4i..4i+3]·y[4i..4i+3] for int8 x, y (ggml's mul_sum_i8_pairs: |x| as unsigned times y with
    /// x's sign, so the unsigned×signed instructions apply).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> SumProducts(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        var ax = Avx2.Sign(x, x).AsByte();
        var sy = Avx2.Sign(y, x);
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, ax, sy);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, sy), Vector256.Create((short)1));
    }

    /// <summary>The eight lanes added in ggml's hsum_float_8 order: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float SumLanes(Vector256<float> a) =>
        ((a[4] + a[0]) + (a[6] + a[2])) + ((a[5] + a[1]) + (a[7] + a[3]));
}
