using System.Buffers.Binary;
using static Substrate.Nn.Ggml.GgmlScaleSearch;

namespace Substrate.Nn.Ggml;

/// <summary>
/// ggml's K-quants: super-blocks of 256 elements in sub-blocks of 16 or 32, each with a 4-, 6- or 8-bit scale (and for
/// Q2_K/Q4_K/Q5_K a min) under one or two fp16 super-scales. Encoders are ggml's reference ones (quantize_row_*_ref, which
/// llama.cpp's quantizer runs when no importance matrix is given); decoders are dequantize_row_*. Layouts (bytes):
/// <list type="bullet">
/// <item>Q2_K (84): 16 scale bytes (low nibble scale, high nibble min), 64 bytes of 2-bit quants, fp16 d, fp16 dmin.</item>
/// <item>Q3_K (110): 32 bytes of high bits, 64 bytes of 2-bit low parts, 12 bytes of 16 packed 6-bit scales, fp16 d.</item>
/// <item>Q4_K (144): fp16 d, fp16 dmin, 12 bytes of 8 packed 6-bit scales and mins, 128 bytes of nibbles.</item>
/// <item>Q5_K (176): as Q4_K, then 32 bytes of fifth bits before the nibbles.</item>
/// <item>Q6_K (210): 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales, fp16 d.</item>
/// </list>
/// </summary>
internal static class GgmlKQuants
{
    public const int N = 256;

    // ---- Q2_K ----

    public static void EncodeQ2_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<byte> l = stackalloc byte[N];
        Span<float> weights = stackalloc float[16], scales = stackalloc float[16], mins = stackalloc float[16];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 16; j++)
        {
            for (int i = 0; i < 16; i++) weights[i] = Math.Abs(x[16 * j + i]);
            scales[j] = AsymmetricLeastSquares(x.Slice(16 * j, 16), weights, 3, l.Slice(16 * j, 16), out mins[j], -0.5f, 0.1f, 15, true);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        var sc = block[..16];
        sc.Clear();
        Half d = default, dmin = default;
        if (maxScale > 0)
        {
            float iscale = 15f / maxScale;
            for (int j = 0; j < 16; j++) sc[j] = (byte)NearestInt(iscale * scales[j]);
            d = (Half)(maxScale / 15f);
        }
        if (maxMin > 0)
        {
            float iscale = 15f / maxMin;
            for (int j = 0; j < 16; j++) sc[j] |= (byte)(NearestInt(iscale * mins[j]) << 4);
            dmin = (Half)(maxMin / 15f);
        }
        BinaryPrimitives.WriteHalfLittleEndian(block[80..], d);
        BinaryPrimitives.WriteHalfLittleEndian(block[82..], dmin);
        for (int j = 0; j < 16; j++)
        {
            float dj = (float)d * (sc[j] & 0xF);
            if (dj == 0) continue;
            float mj = (float)dmin * (sc[j] >> 4);
            for (int i = 0; i < 16; i++) l[16 * j + i] = (byte)Math.Clamp(NearestInt((x[16 * j + i] + mj) / dj), 0, 3);
        }
        PackTwoBits(l, block.Slice(16, 64));
    }

    public static void DecodeQ2_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block[80..]);
        float min = (float)BinaryPrimitives.ReadHalfLittleEndian(block[82..]);
        int scale = 0, o = 0;
        for (int half = 0; half < 2; half++)
        {
            var q = block.Slice(16 + 32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    byte sc = block[scale++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int i = 0; i < 16; i++) y[o++] = dl * ((q[16 * part + i] >> shift) & 3) - ml;
                }
            }
        }
    }

    // ---- Q3_K ----

    public static void EncodeQ3_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<sbyte> l = stackalloc sbyte[N];
        Span<float> scales = stackalloc float[16];
        for (int j = 0; j < 16; j++) scales[j] = Symmetric3Bit(x.Slice(16 * j, 16), 4, l.Slice(16 * j, 16));
        LargestMagnitude(scales, out float maxScale);
        var sc = block.Slice(96, 12);
        sc.Clear();
        Half d = default;
        if (maxScale != 0)
        {
            float iscale = -32f / maxScale;
            for (int j = 0; j < 16; j++)
            {
                int q = Math.Clamp((int)(sbyte)NearestInt(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) sc[j] = (byte)(q & 0xF);
                else sc[j - 8] |= (byte)((q & 0xF) << 4);
                sc[8 + j % 4] |= (byte)((q >> 4) << (2 * (j / 4)));
            }
            d = (Half)(1 / iscale);
        }
        BinaryPrimitives.WriteHalfLittleEndian(block[108..], d);
        for (int j = 0; j < 16; j++)
        {
            float dj = (float)d * Q3Scale(sc, j);
            if (dj == 0) continue;
            for (int i = 0; i < 16; i++) l[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / dj), -4, 3) + 4);
        }
        var hmask = block[..32];
        hmask.Clear();
        Span<byte> low = stackalloc byte[N];
        for (int j = 0; j < N; j++)
        {
            if (l[j] > 3) hmask[j % 32] |= (byte)(1 << (j / 32));
            low[j] = (byte)(l[j] > 3 ? l[j] - 4 : l[j]);
        }
        PackTwoBits(low, block.Slice(32, 64));
    }

    /// <summary>Q3_K's 6-bit scale j (low 4 bits in bytes 0..7, high 2 bits in bytes 8..11), minus 32.</summary>
    private static int Q3Scale(ReadOnlySpan<byte> sc, int j)
    {
        int low = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
        return (low | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    }

    public static void DecodeQ3_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float dAll = (float)BinaryPrimitives.ReadHalfLittleEndian(block[108..]);
        var hm = block[..32];
        var sc = block.Slice(96, 12);
        int scale = 0, o = 0, bit = 0;
        for (int half = 0; half < 2; half++)
        {
            var q = block.Slice(32 + 32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2, bit++)
            {
                for (int part = 0; part < 2; part++)
                {
                    float dl = dAll * Q3Scale(sc, scale++);
                    for (int i = 0; i < 16; i++)
                    {
                        int k = 16 * part + i;
                        y[o++] = dl * (((q[k] >> shift) & 3) - ((hm[k] & (1 << bit)) != 0 ? 0 : 4));
                    }
                }
            }
        }
    }

    /// <summary>2-bit quants: byte l of each 32-byte group holds elements l, l + 32, l + 64, l + 96 of its 128.</summary>
    private static void PackTwoBits(ReadOnlySpan<byte> l, Span<byte> qs)
    {
        for (int j = 0; j < N; j += 128)
            for (int i = 0; i < 32; i++)
                qs[j / 4 + i] = (byte)(l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6));
    }

    // ---- Q4_K and Q5_K ----

    public static void EncodeQ4_K(ReadOnlySpan<float> x, Span<byte> block) => EncodeScaleMin(x, block, 15);

    public static void EncodeQ5_K(ReadOnlySpan<float> x, Span<byte> block) => EncodeScaleMin(x, block, 31);

    /// <summary>Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32, each a 6-bit scale and min under fp16 d and dmin.</summary>
    private static void EncodeScaleMin(ReadOnlySpan<float> x, Span<byte> block, int nmax)
    {
        Span<byte> l = stackalloc byte[N];
        Span<float> weights = stackalloc float[32], scales = stackalloc float[8], mins = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xj = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int i = 0; i < 32; i++) sumX2 += xj[i] * xj[i];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int i = 0; i < 32; i++) weights[i] = avX + Math.Abs(xj[i]);
            scales[j] = nmax == 15
                ? AsymmetricLeastSquares(xj, weights, 15, l.Slice(32 * j, 32), out mins[j], -1f, 0.1f, 20, false)
                : AsymmetricLeastSquares(xj, weights, 31, l.Slice(32 * j, 32), out mins[j], -0.5f, 0.1f, 15, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        var sc = block.Slice(4, 12);
        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                sc[j] = ls;
                sc[j + 4] = lm;
            }
            else
            {
                sc[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte)((ls >> 4) << 6);
                sc[j] |= (byte)((lm >> 4) << 6);
            }
        }
        var d = (Half)(maxScale / 63f);
        var dmin = (Half)(maxMin / 63f);
        BinaryPrimitives.WriteHalfLittleEndian(block, d);
        BinaryPrimitives.WriteHalfLittleEndian(block[2..], dmin);
        for (int j = 0; j < 8; j++)
        {
            var (s, m) = ScaleMin(sc, j);
            float dj = (float)d * s;
            if (dj == 0) continue;
            float mj = (float)dmin * m;
            for (int i = 0; i < 32; i++) l[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + mj) / dj), 0, nmax);
        }
        if (nmax == 15)
        {
            for (int j = 0; j < N; j += 64)
                for (int i = 0; i < 32; i++) block[16 + j / 2 + i] = (byte)(l[j + i] | (l[j + i + 32] << 4));
            return;
        }
        var qh = block.Slice(16, 32);
        qh.Clear();
        for (int j = 0, pair = 0; j < N; j += 64, pair++)
        {
            for (int i = 0; i < 32; i++)
            {
                int l1 = l[j + i], l2 = l[j + i + 32];
                if (l1 > 15) { l1 -= 16; qh[i] |= (byte)(1 << (2 * pair)); }
                if (l2 > 15) { l2 -= 16; qh[i] |= (byte)(2 << (2 * pair)); }
                block[48 + j / 2 + i] = (byte)(l1 | (l2 << 4));
            }
        }
    }

    /// <summary>ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes.</summary>
    private static (int Scale, int Min) ScaleMin(ReadOnlySpan<byte> q, int j) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    public static void DecodeQ4_K(ReadOnlySpan<byte> block, Span<float> y) => DecodeScaleMin(block, y, false);

    public static void DecodeQ5_K(ReadOnlySpan<byte> block, Span<float> y) => DecodeScaleMin(block, y, true);

    private static void DecodeScaleMin(ReadOnlySpan<byte> block, Span<float> y, bool fifthBit)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        float min = (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]);
        var sc = block.Slice(4, 12);
        var qh = block.Slice(16, 32);
        var ql = block[(fifthBit ? 48 : 16)..];
        for (int j = 0, o = 0; j < 4; j++)
        {
            var (s1, m1) = ScaleMin(sc, 2 * j);
            var (s2, m2) = ScaleMin(sc, 2 * j + 1);
            float d1 = d * s1, min1 = min * m1, d2 = d * s2, min2 = min * m2;
            var q = ql.Slice(32 * j, 32);
            for (int i = 0; i < 32; i++) y[o++] = d1 * ((q[i] & 0xF) + (fifthBit && (qh[i] & (1 << (2 * j))) != 0 ? 16 : 0)) - min1;
            for (int i = 0; i < 32; i++) y[o++] = d2 * ((q[i] >> 4) + (fifthBit && (qh[i] & (2 << (2 * j))) != 0 ? 16 : 0)) - min2;
        }
    }

    // ---- Q6_K ----

    public static void EncodeQ6_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<sbyte> l = stackalloc sbyte[N];
        Span<float> scales = stackalloc float[16];
        for (int j = 0; j < 16; j++) scales[j] = SymmetricLeastSquares(x.Slice(16 * j, 16), 32, l.Slice(16 * j, 16));
        float maxAbs = LargestMagnitude(scales, out float maxScale);
        block.Clear();
        if (maxAbs < 1e-15f) return; // all zero, d = 0
        float iscale = -128f / maxScale;
        var d = (Half)(1 / iscale);
        BinaryPrimitives.WriteHalfLittleEndian(block[208..], d);
        for (int j = 0; j < 16; j++) block[192 + j] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * scales[j]));
        for (int j = 0; j < 16; j++)
        {
            float dj = (float)d * (sbyte)block[192 + j];
            if (dj == 0) continue;
            for (int i = 0; i < 16; i++) l[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / dj), -32, 31) + 32);
        }
        for (int j = 0; j < N; j += 128)
        {
            var ql = block.Slice(j / 2, 64);
            var qh = block.Slice(128 + j / 4, 32);
            for (int i = 0; i < 32; i++)
            {
                int q1 = l[j + i], q2 = l[j + i + 32], q3 = l[j + i + 64], q4 = l[j + i + 96];
                ql[i] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[i + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[i] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }

    public static void DecodeQ6_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block[208..]);
        for (int n = 0; n < 2; n++)
        {
            var ql = block.Slice(64 * n, 64);
            var qh = block.Slice(128 + 32 * n, 32);
            var sc = block.Slice(192 + 8 * n, 8);
            var yn = y.Slice(128 * n, 128);
            for (int i = 0; i < 32; i++)
            {
                int s = i / 16;
                int q1 = ((ql[i] & 0xF) | (((qh[i] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[i + 32] & 0xF) | (((qh[i] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[i] >> 4) | (((qh[i] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[i + 32] >> 4) | (((qh[i] >> 6) & 3) << 4)) - 32;
                yn[i] = d * (sbyte)sc[s] * q1;
                yn[i + 32] = d * (sbyte)sc[s + 2] * q2;
                yn[i + 64] = d * (sbyte)sc[s + 4] * q3;
                yn[i + 96] = d * (sbyte)sc[s + 6] * q4;
            }
        }
    }
}
