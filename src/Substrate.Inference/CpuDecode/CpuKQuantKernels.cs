using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// ggml's K-quant dot products in place: a Q4_K, Q5_K or Q6_K weight row against the activations quantized to Q8_K once per
/// matrix-vector product (256 values per block: an fp32 scale, int8 values, and the sums of each 16 — ggml's
/// vec_dot_type for the K-quants). Per 256-block, the 4- (5-) bit values times the int8 activations are summed in 32-bit
/// integers (AVX2 <c>maddubs</c> then <c>madd</c> by each 32-value sub-block's 6-bit scale), scaled by d_w·d_x into
/// eight fp32 lanes; the sub-block minimums come in through the activations' 16-sums, as in ggml-cpu's x86 code.
/// </summary>
public static unsafe class CpuKQuantKernels
{
    /// <summary>Values per K-quant block; bytes of a Q8_K block (fp32 d, 256 int8, 16 int16 sums) and a Q4_K block
    /// (fp16 d, fp16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit values).</summary>
    public const int Values = 256, Q8_KBytes = 292, Q4_KBytes = 144;

    /// <summary>Bytes of a Q6_K block: 128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales (one per 16 values), fp16 d.</summary>
    public const int Q6_KBytes = 210;

    /// <summary>Bytes of a Q5_K block: Q4_K's d, dmin and scales, 32 bytes of fifth bits, then Q4_K's 128 bytes of nibbles.</summary>
    public const int Q5_KBytes = 176;

    /// <summary><paramref name="n"/> floats (whole 256-blocks) → Q8_K blocks as ggml's <c>quantize_row_q8_K</c>: with max the value
    /// of largest magnitude, q = nearest(x·−127/max) capped at 127, d = 1/(−127/max), and the sums of each 16 q.</summary>
    public static void QuantizeQ8_K(float* x, byte* y, int n)
    {
        for (var b = 0; b < n / Values; b++)
        {
            var xs = x + b * Values;
            var block = y + b * Q8_KBytes;
            var q = (sbyte*)(block + 4);
            var sums = (short*)(block + 4 + Values);
            float max = 0, amax = 0;
            for (var i = 0; i < Values; i++)
            {
                var ax = MathF.Abs(xs[i]);
                if (ax > amax) (amax, max) = (ax, xs[i]);
            }
            if (amax == 0)
            {
                new Span<byte>(block, Q8_KBytes).Clear();
                continue;
            }
            var iscale = -127f / max;
            for (var i = 0; i < Values; i++) q[i] = (sbyte)Math.Min(127, Nearest(iscale * xs[i]));
            for (var j = 0; j < Values / 16; j++)
            {
                var sum = 0;
                for (var i = 0; i < 16; i++) sum += q[j * 16 + i];
                sums[j] = (short)sum;
            }
            *(float*)block = 1 / iscale;
        }
    }

    /// <summary>ggml's nearest_int: round half to even through the fp32 mantissa.</summary>
    private static int Nearest(float value) => (BitConverter.SingleToInt32Bits(value + 12582912f) & 0x007fffff) - 0x00400000;

    /// <summary>Sub-block <paramref name="j"/>'s (scale, min) from a Q4_K block's 12 packed bytes (ggml's get_scale_min_k4).</summary>
    internal static (int Scale, int Min) ScaleMin(byte* q, int j) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    /// <summary>Q4_K row (<paramref name="blocks"/> blocks) · Q8_K activations.</summary>
    public static float DotQ4_K(byte* w, byte* x, int blocks) => DotScaleMin(w, x, blocks, fifthBits: false);

    /// <summary>Q5_K row (<paramref name="blocks"/> blocks) · Q8_K activations.</summary>
    public static float DotQ5_K(byte* w, byte* x, int blocks) => DotScaleMin(w, x, blocks, fifthBits: true);

    /// <summary>Q4_K, or Q5_K with <paramref name="fifthBits"/> (its 32 bytes of fifth bits — bit j of byte i: value i of
    /// sub-block j — before the nibbles): Σ d·scale·Σq·q8 − dmin·min·(16-sums), per 32-value sub-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotScaleMin(byte* w, byte* x, int blocks, bool fifthBits)
    {
        var acc = Vector256<float>.Zero;
        var minimums = 0f;
        var scalar = 0f;
        var bytes = fifthBits ? Q5_KBytes : Q4_KBytes;
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * bytes, xb = x + b * Q8_KBytes;
            var dx = *(float*)xb;
            var d = CpuHalf.ToSingle(wb) * dx;
            var dmin = CpuHalf.ToSingle(wb + 2) * dx;
            byte* scales = wb + 4, qh = wb + 16, qs = wb + (fifthBits ? 48 : 16);
            var q8 = (sbyte*)(xb + 4);
            var sums = (short*)(xb + 4 + Values);
            if (Avx2.IsSupported && Fma.IsSupported)
            {
                var unpacked = ScalesAndMins(scales);
                minimums = MathF.FusedMultiplyAdd(-dmin, SumMins(unpacked, sums), minimums);
                acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(SumScaleMin(unpacked, qs, fifthBits ? qh : null, q8)), acc);
                continue;
            }
            var summins = 0;
            for (var j = 0; j < 8; j++) summins += ScaleMin(scales, j).Min * (sums[2 * j] + sums[2 * j + 1]);
            minimums = MathF.FusedMultiplyAdd(-dmin, summins, minimums);
            var dot = 0;
            for (var j = 0; j < 8; j++)
            {
                var (scale, _) = ScaleMin(scales, j);
                var sub = 0;
                for (var i = 0; i < 32; i++)
                    sub += ((qs[32 * (j / 2) + i] >> (j % 2 * 4)) & 0xF | (fifthBits ? (qh[i] >> j & 1) << 4 : 0)) * q8[32 * j + i];
                dot += scale * sub;
            }
            scalar = MathF.FusedMultiplyAdd(d, dot, scalar);
        }
        return CpuQuantKernels.SumLanes(acc) + scalar + minimums;
    }

    /// <summary>A Q4_K/Q5_K block's 12 packed bytes → its eight 6-bit scales as int16 (lanes 0–7 of the low half) and its
    /// eight mins (the high half): <see cref="ScaleMin"/> for every sub-block at once, on three uint32 — a block's
    /// bookkeeping in a dozen integer operations instead of sixteen branchy byte extractions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<short> ScalesAndMins(byte* packed)
    {
        uint u0 = Unsafe.ReadUnaligned<uint>(packed), u1 = Unsafe.ReadUnaligned<uint>(packed + 4), u2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        const uint six = 0x3F3F3F3F, four = 0x0F0F0F0F, two = 0x03030303;
        var scales = (ulong)(u0 & six) | (ulong)((u2 & four) | (u0 >> 6 & two) << 4) << 32;      // sub-blocks 0–3, then 4–7
        var mins = (ulong)(u1 & six) | (ulong)((u2 >> 4 & four) | (u1 >> 6 & two) << 4) << 32;
        return Avx2.ConvertToVector256Int16(Vector128.Create(scales, mins).AsByte());
    }

    /// <summary>Σ min_j·(sums[2j] + sums[2j+1]) over a block's eight sub-blocks (the Q8_K 16-sums paired into 32-sums),
    /// exact in int32 whatever the order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int SumMins(Vector256<short> scalesAndMins, short* sums)
    {
        var sixteens = Vector256.Load(sums);
        var pairs = Ssse3.HorizontalAdd(sixteens.GetLower(), sixteens.GetUpper()); // (8) 32-value sums, ≤ 32·127
        var products = Sse2.MultiplyAddAdjacent(scalesAndMins.GetUpper(), pairs);  // (4)
        return Vector128.Sum(products);
    }

    /// <summary>The <see cref="Avx2.Shuffle(Vector256{byte}, Vector256{byte})"/> mask that copies int16 lane j of each 128-bit
    /// lane into all eight of its lanes (bytes 2j, 2j + 1 repeated: ggml's get_scale_shuffle), built in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> BroadcastShort(int j) => Vector256.Create((short)(0x0100 + 0x0202 * j)).AsByte();

    /// <summary>Σ scale·q·q8 over a Q4_K/Q5_K block (q unsigned; the fifth bits from <paramref name="qh"/> when not null), in
    /// eight int32 lanes; the scales from <see cref="ScalesAndMins"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SumScaleMin(Vector256<short> scalesAndMins, byte* qs, byte* qh, sbyte* q8)
    {
        var sumi = Vector256<int>.Zero;
        var scales = Vector256.Create(scalesAndMins.GetLower()).AsByte(); // the eight scales in both 128-bit lanes
        var (low, one) = (Vector256.Create((byte)0xF), Vector256.Create((byte)1));
        var high = qh == null ? default : Vector256.Load(qh);
        for (var jj = 0; jj < 4; jj++) // values 64jj …: sub-blocks 2jj (low nibbles) and 2jj + 1 (high nibbles)
        {
            var packed = Vector256.Load(qs + 32 * jj);
            var (q0, q1) = (packed & low, Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & low);
            if (qh != null)
            {
                q0 |= Avx2.ShiftLeftLogical((Vector256.ShiftRightLogical(high.AsUInt16(), 2 * jj).AsByte() & one).AsUInt16(), 4).AsByte();
                q1 |= Avx2.ShiftLeftLogical((Vector256.ShiftRightLogical(high.AsUInt16(), 2 * jj + 1).AsByte() & one).AsUInt16(), 4).AsByte();
            }
            var s0 = Avx2.Shuffle(scales, BroadcastShort(2 * jj)).AsInt16();
            var s1 = Avx2.Shuffle(scales, BroadcastShort(2 * jj + 1)).AsInt16();
            var p0 = Avx2.MultiplyAddAdjacent(q0, Vector256.Load(q8 + 64 * jj));
            var p1 = Avx2.MultiplyAddAdjacent(q1, Vector256.Load(q8 + 64 * jj + 32));
            sumi += Avx2.MultiplyAddAdjacent(p0, s0) + Avx2.MultiplyAddAdjacent(p1, s1);
        }
        return sumi;
    }

    /// <summary>Q6_K row (<paramref name="blocks"/> blocks) · Q8_K activations: Σ scale·(q−32)·q8 per 16 values, the −32
    /// taken out through the activations' 16-sums.</summary>
    public static float DotQ6_K(byte* w, byte* x, int blocks)
    {
        var acc = Vector256<float>.Zero;
        var offsets = 0f;
        for (var b = 0; b < blocks; b++)
        {
            byte* wb = w + b * Q6_KBytes, xb = x + b * Q8_KBytes;
            var d = CpuHalf.ToSingle(wb + 208) * *(float*)xb;
            var scales = (sbyte*)(wb + 192);
            var q8 = (sbyte*)(xb + 4);
            var sums = (short*)(xb + 4 + Values);
            if (Avx2.IsSupported && Fma.IsSupported)
            {
                var wide = Avx2.ConvertToVector256Int16((sbyte*)scales); // (16) the scales as int16
                var products = Avx2.MultiplyAddAdjacent(wide, Vector256.Load(sums)); // (8) exact int32
                offsets = MathF.FusedMultiplyAdd(-32 * d, Vector256.Sum(products), offsets);
                acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(SumQ6(wb, q8, wide)), acc);
                continue;
            }
            var offset = 0;
            for (var g = 0; g < 16; g++) offset += scales[g] * sums[g];
            offsets = MathF.FusedMultiplyAdd(-32 * d, offset, offsets);
            var dot = 0;
            for (var i = 0; i < Values; i++) dot += scales[i / 16] * Q6(wb, i) * q8[i];
            offsets = MathF.FusedMultiplyAdd(d, dot, offsets);
        }
        return CpuQuantKernels.SumLanes(acc) + offsets;
    }

    /// <summary>The <see cref="Avx2.Shuffle(Vector256{byte}, Vector256{byte})"/> mask that fills the low 128-bit lane with int16
    /// lane 2k and the high one with lane 2k + 1 (the scales of a 32-value group's two 16-value halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> ScalePair(int k) =>
        Vector256.Create((short)(0x0100 + 0x0404 * k)).AsByte() + Vector256.Create(Vector128<byte>.Zero, Vector128.Create((byte)2));

    /// <summary>Σ scale·q·q8 over a Q6_K block with q unsigned (0…63), in eight int32 lanes; <paramref name="scales"/>: the
    /// sixteen scales as int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SumQ6(byte* wb, sbyte* q8, Vector256<short> scales)
    {
        var sumi = Vector256<int>.Zero;
        var (low, two) = (Vector256.Create((byte)0xF), Vector256.Create((byte)3));
        for (var h = 0; h < 2; h++) // 128 values each: ql[64h..64h+64), qh[32h..32h+32)
        {
            // scales 8h … 8h+7 in both lanes; vperm2i128's control byte an immediate in each branch, not a computed value
            var half = (h == 0 ? Avx2.Permute2x128(scales, scales, 0x00) : Avx2.Permute2x128(scales, scales, 0x11)).AsByte();
            var ql0 = Vector256.Load(wb + 64 * h);
            var ql1 = Vector256.Load(wb + 64 * h + 32);
            var qh = Vector256.Load(wb + 128 + 32 * h);
            for (var k = 0; k < 4; k++) // values 128h + 32k …: low or high nibbles of ql0/ql1, bits 2k, 2k+1 of qh
            {
                var nibbles = k % 2 == 0 ? ql0 : ql1;
                nibbles = k < 2 ? nibbles & low : Avx2.ShiftRightLogical(nibbles.AsUInt16(), 4).AsByte() & low;
                var high = Vector256.ShiftRightLogical(qh.AsUInt16(), 2 * k).AsByte() & two;
                var q = nibbles | Avx2.ShiftLeftLogical(high.AsUInt16(), 4).AsByte();
                var scale = Avx2.Shuffle(half, ScalePair(k)).AsInt16(); // scales 8h + 2k, 8h + 2k + 1
                sumi += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Vector256.Load(q8 + 128 * h + 32 * k)), scale);
            }
        }
        return sumi;
    }

    /// <summary>Value <paramref name="i"/> of a Q6_K block as stored, 0…63 (the value is this − 32).</summary>
    private static int Q6(byte* wb, int i)
    {
        var (h, k, l) = (i / 128, i % 128 / 32, i % 32);
        var ql = wb[64 * h + (k % 2) * 32 + l] >> (k / 2 * 4) & 0xF;
        return ql | ((wb[128 + 32 * h + l] >> (2 * k)) & 3) << 4;
    }

    /// <summary>y = a Q6_K row dequantized (embedding lookups): d·scale·(q − 32).</summary>
    public static void DequantizeQ6_K(byte* w, float* y, int n)
    {
        for (var b = 0; b < n / Values; b++)
        {
            var wb = w + b * Q6_KBytes;
            var d = CpuHalf.ToSingle(wb + 208);
            for (var i = 0; i < Values; i++) y[b * Values + i] = d * ((sbyte*)(wb + 192))[i / 16] * (Q6(wb, i) - 32);
        }
    }

    /// <summary>y = a Q4_K row dequantized (embedding lookups): d·scale·q − dmin·min per sub-block.</summary>
    public static void DequantizeQ4_K(byte* w, float* y, int n) => DequantizeScaleMin(w, y, n, fifthBits: false);

    /// <summary>y = a Q5_K row dequantized: as Q4_K with each q's fifth bit.</summary>
    public static void DequantizeQ5_K(byte* w, float* y, int n) => DequantizeScaleMin(w, y, n, fifthBits: true);

    private static void DequantizeScaleMin(byte* w, float* y, int n, bool fifthBits)
    {
        for (var b = 0; b < n / Values; b++)
        {
            var wb = w + b * (fifthBits ? Q5_KBytes : Q4_KBytes);
            float d = CpuHalf.ToSingle(wb), dmin = CpuHalf.ToSingle(wb + 2);
            var qs = wb + (fifthBits ? 48 : 16);
            for (var j = 0; j < 8; j++)
            {
                var (scale, min) = ScaleMin(wb + 4, j);
                float d1 = d * scale, m1 = dmin * min;
                for (var i = 0; i < 32; i++)
                {
                    var q = (qs[32 * (j / 2) + i] >> (j % 2 * 4)) & 0xF | (fifthBits ? (wb[16 + i] >> j & 1) << 4 : 0);
                    y[b * Values + 32 * j + i] = d1 * q - m1;
                }
            }
        }
    }
}
