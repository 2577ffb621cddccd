using System.Buffers.Binary;

namespace Substrate.Nn.Ggml;

/// <summary>
/// The ggml block types of 32 elements, bit for bit as ggml's reference code (quantize_row_*_ref, dequantize_row_*):
/// <list type="bullet">
/// <item>Q8_0 (34 bytes): fp16 d = amax / 127, then 32 int8 q = round(x / d), halves away from zero; x ≈ q · d.</item>
/// <item>Q4_0 (18): fp16 d = m / -8 (m: the value of largest magnitude, sign kept), 16 bytes of nibbles
/// q = min(15, trunc(x / d + 8.5)); byte j holds element j (low nibble) and j + 16 (high); x ≈ (q - 8) · d.</item>
/// <item>Q4_1 (20): fp16 d = (max - min) / 15, fp16 m = min, nibbles q = min(15, trunc((x - min) / d + 0.5)); x ≈ q · d + m.</item>
/// <item>Q5_0 (22): fp16 d = m / -16, then the fifth bits of the 32 quants as a uint32 (bit j: element j), then
/// nibbles as Q4_0; q = min(31, trunc(x / d + 16.5)); x ≈ (q - 16) · d.</item>
/// <item>Q5_1 (24): fp16 d = (max - min) / 31, fp16 m = min, the fifth bits, nibbles; x ≈ q · d + m.</item>
/// </list>
/// </summary>
internal static class GgmlBlocks32
{
    private const int N = 32;

    public static void EncodeQ8_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0;
        foreach (var v in x) amax = Math.Max(amax, Math.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        for (int j = 0; j < N; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    public static void DecodeQ8_0(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        for (int j = 0; j < N; j++) y[j] = (sbyte)block[2 + j] * d;
    }

    public static void EncodeQ4_0(ReadOnlySpan<float> x, Span<byte> block) => EncodeSymmetric(x, block, 8, 2);

    public static void DecodeQ4_0(ReadOnlySpan<byte> block, Span<float> y) => DecodeNibbles(block, y, 2, 0, -8, 0f);

    public static void EncodeQ5_0(ReadOnlySpan<float> x, Span<byte> block) => EncodeSymmetric(x, block, 16, 6);

    public static void DecodeQ5_0(ReadOnlySpan<byte> block, Span<float> y) =>
        DecodeNibbles(block, y, 6, BinaryPrimitives.ReadUInt32LittleEndian(block[2..]), -16, 0f);

    public static void EncodeQ4_1(ReadOnlySpan<float> x, Span<byte> block) => EncodeOffset(x, block, 15, 4);

    public static void DecodeQ4_1(ReadOnlySpan<byte> block, Span<float> y) =>
        DecodeNibbles(block, y, 4, 0, 0, (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]));

    public static void EncodeQ5_1(ReadOnlySpan<float> x, Span<byte> block) => EncodeOffset(x, block, 31, 8);

    public static void DecodeQ5_1(ReadOnlySpan<byte> block, Span<float> y) =>
        DecodeNibbles(block, y, 8, BinaryPrimitives.ReadUInt32LittleEndian(block[4..]), 0, (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]));

    /// <summary>Q4_0 (half = 8, nibbles at 2) and Q5_0 (half = 16, fifth bits at 2, nibbles at 6).</summary>
    private static void EncodeSymmetric(ReadOnlySpan<float> x, Span<byte> block, int half, int nibbles)
    {
        float amax = 0, max = 0;
        foreach (var v in x)
        {
            if (amax < Math.Abs(v)) { amax = Math.Abs(v); max = v; }
        }
        float d = max / -half;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        Span<int> q = stackalloc int[N];
        for (int j = 0; j < N; j++) q[j] = Math.Min(2 * half - 1, (int)(sbyte)(x[j] * id + (half + 0.5f)));
        Pack(q, block, nibbles);
    }

    /// <summary>Q4_1 (nmax 15, nibbles at 4) and Q5_1 (nmax 31, fifth bits at 4, nibbles at 8): d and min, then quants.</summary>
    private static void EncodeOffset(ReadOnlySpan<float> x, Span<byte> block, int nmax, int nibbles)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (var v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        float d = (max - min) / nmax;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        BinaryPrimitives.WriteHalfLittleEndian(block[2..], (Half)min);
        Span<int> q = stackalloc int[N];
        // ggml: Q4_1 clamps at 15 after an int8 truncation; Q5_1 truncates to uint8 without a clamp.
        for (int j = 0; j < N; j++) q[j] = nmax == 15 ? Math.Min(15, (int)(sbyte)((x[j] - min) * id + 0.5f)) : (byte)((x[j] - min) * id + 0.5f);
        Pack(q, block, nibbles);
    }

    /// <summary>32 quants → nibble pairs (j, j + 16) at <paramref name="nibbles"/>; with 5-bit quants their fifth bits go in
    /// the uint32 just before the nibbles.</summary>
    private static void Pack(ReadOnlySpan<int> q, Span<byte> block, int nibbles)
    {
        uint qh = 0;
        for (int j = 0; j < N / 2; j++)
        {
            block[nibbles + j] = (byte)((q[j] & 0x0F) | ((q[j + N / 2] & 0x0F) << 4));
            qh |= (uint)((q[j] & 0x10) >> 4) << j;
            qh |= (uint)((q[j + N / 2] & 0x10) >> 4) << (j + N / 2);
        }
        if (nibbles == 6 || nibbles == 8) BinaryPrimitives.WriteUInt32LittleEndian(block[(nibbles - 4)..], qh);
    }

    /// <summary>y = (q + offset) · d + m, q = nibble | fifth bit from <paramref name="qh"/> (0 for 4-bit types).</summary>
    private static void DecodeNibbles(ReadOnlySpan<byte> block, Span<float> y, int nibbles, uint qh, int offset, float m)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        for (int j = 0; j < N / 2; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10;
            int h1 = (int)(qh >> (j + 12)) & 0x10;
            int x0 = ((block[nibbles + j] & 0x0F) | h0) + offset;
            int x1 = ((block[nibbles + j] >> 4) | h1) + offset;
            // Q4_0/Q5_0 (offset -8/-16) have no m: adding +0 would turn a -0 into +0.
            y[j] = offset != 0 ? x0 * d : x0 * d + m;
            y[j + N / 2] = offset != 0 ? x1 * d : x1 * d + m;
        }
    }
}
