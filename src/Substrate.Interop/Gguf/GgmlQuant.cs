using System.Buffers.Binary;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Encodes float32 rows into the ggml block formats and decodes them back, bit for bit as ggml's
/// reference (scalar) code does:
/// <list type="bullet">
/// <item>F16: IEEE half, round to nearest even. BF16: the top 16 bits of the float, rounded to nearest even (NaN kept quiet).</item>
/// <item>Q8_0: blocks of 32 — fp16 scale d = amax / 127, then 32 int8 q = round(x / d); x ≈ q · d.</item>
/// <item>Q4_0: blocks of 32 — fp16 d = m / -8 where m is the value of largest magnitude (sign kept), then 16 bytes of
/// nibbles q = min(15, floor(x / d + 8.5)); byte j holds element j in its low nibble and element j + 16 in its high
/// nibble; x ≈ (q - 8) · d.</item>
/// </list>
/// </summary>
public static class GgmlQuant
{
    public const int BlockSize = 32;

    /// <summary>Bytes that <paramref name="count"/> elements of <paramref name="type"/> take; throws if count is not whole blocks.</summary>
    public static long ByteCount(GgmlType type, long count)
    {
        var (block, bytes) = GgmlTypes.Layout(type) ?? throw new NotSupportedException($"ggml type {type} is not supported");
        if (count % block != 0) throw new ArgumentException($"{count} elements are not a whole number of {type} blocks of {block}");
        return count / block * bytes;
    }

    public static byte[] Encode(ReadOnlySpan<float> values, GgmlType type)
    {
        var output = new byte[ByteCount(type, values.Length)];
        Encode(values, type, output);
        return output;
    }

    public static void Encode(ReadOnlySpan<float> values, GgmlType type, Span<byte> output)
    {
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(output[(4 * i)..], values[i]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(output[(2 * i)..], (Half)values[i]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(output[(2 * i)..], ToBf16(values[i]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < values.Length / BlockSize; b++) EncodeQ8_0(values.Slice(b * BlockSize, BlockSize), output.Slice(b * 34, 34));
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < values.Length / BlockSize; b++) EncodeQ4_0(values.Slice(b * BlockSize, BlockSize), output.Slice(b * 18, 18));
                break;
            default:
                throw new NotSupportedException($"cannot encode ggml type {type} (supported: F32, F16, BF16, Q8_0, Q4_0)");
        }
    }

    public static float[] Decode(ReadOnlySpan<byte> data, GgmlType type, long count)
    {
        if (count > Array.MaxLength) throw new NotSupportedException($"{count} elements do not fit one array");
        var output = new float[count];
        Decode(data, type, output);
        return output;
    }

    /// <summary>Decodes output.Length elements; <paramref name="data"/> must hold exactly their bytes.</summary>
    public static void Decode(ReadOnlySpan<byte> data, GgmlType type, Span<float> output)
    {
        if (data.Length != ByteCount(type, output.Length))
            throw new ArgumentException($"{data.Length} bytes do not hold {output.Length} {type} elements");
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < output.Length; i++) output[i] = BinaryPrimitives.ReadSingleLittleEndian(data[(4 * i)..]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < output.Length; i++) output[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(data[(2 * i)..]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < output.Length; i++) output[i] = FromBf16(BinaryPrimitives.ReadUInt16LittleEndian(data[(2 * i)..]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < output.Length / BlockSize; b++)
                {
                    var block = data.Slice(b * 34, 34);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < BlockSize; j++) output[b * BlockSize + j] = (sbyte)block[2 + j] * d;
                }
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < output.Length / BlockSize; b++)
                {
                    var block = data.Slice(b * 18, 18);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < BlockSize / 2; j++)
                    {
                        output[b * BlockSize + j] = ((block[2 + j] & 0x0F) - 8) * d;
                        output[b * BlockSize + j + BlockSize / 2] = ((block[2 + j] >> 4) - 8) * d;
                    }
                }
                break;
            default:
                throw new NotSupportedException($"cannot decode ggml type {type} (supported: F32, F16, BF16, Q8_0, Q4_0)");
        }
    }

    private static void EncodeQ8_0(ReadOnlySpan<float> x, Span<byte> block) // 32 floats → fp16 d + 32 × int8
    {
        float amax = 0;
        foreach (var v in x) amax = Math.Max(amax, Math.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        for (int j = 0; j < BlockSize; j++)
            block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    private static void EncodeQ4_0(ReadOnlySpan<float> x, Span<byte> block) // 32 floats → fp16 d + 16 bytes of nibbles
    {
        float amax = 0, max = 0;
        foreach (var v in x)
        {
            if (amax < Math.Abs(v)) { amax = Math.Abs(v); max = v; }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        for (int j = 0; j < BlockSize / 2; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int hi = Math.Min(15, (int)(sbyte)(x[j + BlockSize / 2] * id + 8.5f));
            block[2 + j] = (byte)(lo | (hi << 4));
        }
    }

    /// <summary>float → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.</summary>
    public static ushort ToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    public static float FromBf16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
