using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// ggml's 2- and 3-bit K-quants multiplied in place against Q8_K activations (<see cref="CpuKQuantKernels.QuantizeQ8_K"/>),
/// one scale per 16 values:
/// <list type="bullet">
/// <item>Q2_K (84 bytes): 16 scale bytes (low 4 bits the scale, high 4 the min), 64 bytes of 2-bit q, fp16 d, fp16 dmin;
/// x = d·scale·q − dmin·min.</item>
/// <item>Q3_K (110): 32 bytes of high bits (bit m of byte l: value 32m + l), 64 bytes of 2-bit low parts, 12 bytes of
/// 6-bit scales (s − 32), fp16 d; x = d·(s − 32)·(q − 4) with q = low | high·4.</item>
/// </list>
/// The 2-bit parts lie as in ggml: byte l of each 128 values' 32 bytes holds values l, l + 32, l + 64, l + 96 (bits 0, 2,
/// 4, 6). Per block the unsigned q times the int8 activations are summed exactly in 32-bit integers (AVX2 <c>maddubs</c>,
/// then <c>madd</c> by each 16 values' scale), scaled by d_w·d_x into eight fp32 lanes; the mins and Q3_K's −4 come in
/// through the activations' 16-sums, as in ggml-cpu's x86 code.
/// </summary>
public static unsafe class CpuQ2Q3KKernels
{
    /// <summary>Bytes of a Q2_K block and of a Q3_K block (256 values each).</summary>
    public const int Q2_KBytes = 84, Q3_KBytes = 110;

    private const int Values = CpuKQuantKernels.Values, Q8_KBytes = CpuKQuantKernels.Q8_KBytes;

    /// <summary>Q2_K row (<paramref name="blocks"/> blocks) · Q8_K activations.</summary>
    public static float DotQ2_K(byte* w, byte* x, int blocks)
    {
        var acc = Vector256<float>.Zero;
        var rest = 0f; // the mins, and the whole sum on the scalar path
        Span<short> scales = stackalloc short[16];
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * Q2_KBytes, xb = x + b * Q8_KBytes;
            var dx = *(float*)xb;
            var sums = (short*)(xb + 4 + Values);
            var mins = 0;
            for (var g = 0; g < 16; g++) (scales[g], mins) = ((short)(wb[g] & 0xF), mins + (wb[g] >> 4) * sums[g]);
            rest = MathF.FusedMultiplyAdd(-CpuHalf.ToSingle(wb + 82) * dx, mins, rest);
            acc = Accumulate(CpuHalf.ToSingle(wb + 80) * dx, wb + 16, null, scales, (sbyte*)(xb + 4), acc, ref rest);
        }
        return CpuQuantKernels.SumLanes(acc) + rest;
    }

    /// <summary>Q3_K row (<paramref name="blocks"/> blocks) · Q8_K activations.</summary>
    public static float DotQ3_K(byte* w, byte* x, int blocks)
    {
        var acc = Vector256<float>.Zero;
        var rest = 0f; // the −4 offsets, and the whole sum on the scalar path
        Span<short> scales = stackalloc short[16];
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * Q3_KBytes, xb = x + b * Q8_KBytes;
            var d = CpuHalf.ToSingle(wb + 108) * *(float*)xb;
            var sums = (short*)(xb + 4 + Values);
            var offset = 0;
            for (var g = 0; g < 16; g++) offset += (scales[g] = (short)Q3Scale(wb + 96, g)) * sums[g];
            rest = MathF.FusedMultiplyAdd(-4 * d, offset, rest);
            acc = Accumulate(d, wb + 32, wb, scales, (sbyte*)(xb + 4), acc, ref rest);
        }
        return CpuQuantKernels.SumLanes(acc) + rest;
    }

    /// <summary>Adds d·Σ scale·q·q8 over one block to the lanes (AVX2) or to <paramref name="rest"/> (scalar): q the 2-bit
    /// parts at <paramref name="qs"/>, with bit 2 from <paramref name="hmask"/> when not null.</summary>
    private static Vector256<float> Accumulate(float d, byte* qs, byte* hmask, Span<short> scales, sbyte* q8, Vector256<float> acc,
        ref float rest)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            var dot = 0;
            for (var i = 0; i < Values; i++) dot += scales[i / 16] * Quant(qs, hmask, i) * q8[i];
            rest = MathF.FusedMultiplyAdd(d, dot, rest);
            return acc;
        }
        var sumi = Vector256<int>.Zero;
        var (three, one) = (Vector256.Create((byte)3), Vector256.Create((byte)1));
        var high = hmask == null ? default : Vector256.Load(hmask);
        for (var h = 0; h < 2; h++) // values 128h …
        {
            var packed = Vector256.Load(qs + 32 * h);
            for (var k = 0; k < 4; k++) // values 128h + 32k …: bits 2k, 2k + 1 of the packed bytes, bit 4h + k of hmask
            {
                var q = Vector256.ShiftRightLogical(packed.AsUInt16(), 2 * k).AsByte() & three;
                if (hmask != null)
                    q |= Avx2.ShiftLeftLogical((Vector256.ShiftRightLogical(high.AsUInt16(), 4 * h + k).AsByte() & one).AsUInt16(), 2).AsByte();
                var g = 8 * h + 2 * k;
                var scale = Vector256.Create(Vector128.Create(scales[g]), Vector128.Create(scales[g + 1]));
                sumi += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Vector256.Load(q8 + 128 * h + 32 * k)), scale);
            }
        }
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);
    }

    /// <summary>Value <paramref name="i"/>'s unsigned q: its 2-bit part, plus 4 when its bit in <paramref name="hmask"/> is set.</summary>
    private static int Quant(byte* qs, byte* hmask, int i)
    {
        var (h, k, l) = (i / 128, i % 128 / 32, i % 32);
        var q = (qs[32 * h + l] >> (2 * k)) & 3;
        return hmask == null ? q : q | ((hmask[l] >> (i / 32)) & 1) << 2;
    }

    /// <summary>Q3_K's scale <paramref name="g"/> (low 4 bits in bytes 0…7, high 2 bits in bytes 8…11), minus 32.</summary>
    private static int Q3Scale(byte* sc, int g)
    {
        var low = g < 8 ? sc[g] & 0xF : sc[g - 8] >> 4;
        return (low | ((sc[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32;
    }

    /// <summary>y = a Q2_K row dequantized (embedding lookups).</summary>
    public static void DequantizeQ2_K(byte* w, float* y, int n)
    {
        for (var b = 0; b < n / Values; b++)
        {
            var wb = w + b * Q2_KBytes;
            float d = CpuHalf.ToSingle(wb + 80), dmin = CpuHalf.ToSingle(wb + 82);
            for (var i = 0; i < Values; i++) y[b * Values + i] = d * (wb[i / 16] & 0xF) * Quant(wb + 16, null, i) - dmin * (wb[i / 16] >> 4);
        }
    }

    /// <summary>y = a Q3_K row dequantized.</summary>
    public static void DequantizeQ3_K(byte* w, float* y, int n)
    {
        for (var b = 0; b < n / Values; b++)
        {
            var wb = w + b * Q3_KBytes;
            var d = CpuHalf.ToSingle(wb + 108);
            for (var i = 0; i < Values; i++) y[b * Values + i] = d * Q3Scale(wb + 96, i / 16) * (Quant(wb + 32, wb, i) - 4);
        }
    }
}
