using System.Buffers.Binary;

namespace Substrate.Nn.Ggml;

/// <summary>
/// Encodes float32 rows into the ggml tensor types and decodes them back, bit for bit as ggml's reference (scalar) code:
/// F16 (IEEE half, round to nearest even), BF16 (the top 16 bits of the float, rounded to nearest even, NaN kept quiet),
/// the 32-element block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (<see cref="GgmlBlocks32"/>) and the 256-element K-quants
/// Q2_K … Q6_K (<see cref="GgmlKQuants"/>). Any other type (IQ*, TQ*, MXFP4, Q8_K …) is refused with its name.
/// </summary>
public static class GgmlQuant
{
    public const int BlockSize = 32;

    private delegate void BlockEncoder(ReadOnlySpan<float> x, Span<byte> block);
    private delegate void BlockDecoder(ReadOnlySpan<byte> block, Span<float> y);

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
                return;
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(output[(2 * i)..], (Half)values[i]);
                return;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(output[(2 * i)..], ToBf16(values[i]));
                return;
        }
        var (encode, _) = Codec(type, "encode");
        var (block, bytes) = GgmlTypes.Layout(type)!.Value;
        for (int b = 0; b < values.Length / block; b++) encode(values.Slice(b * block, block), output.Slice(b * bytes, bytes));
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
                return;
            case GgmlType.F16:
                for (int i = 0; i < output.Length; i++) output[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(data[(2 * i)..]);
                return;
            case GgmlType.BF16:
                for (int i = 0; i < output.Length; i++) output[i] = FromBf16(BinaryPrimitives.ReadUInt16LittleEndian(data[(2 * i)..]));
                return;
        }
        var (_, decode) = Codec(type, "decode");
        var (block, bytes) = GgmlTypes.Layout(type)!.Value;
        for (int b = 0; b < output.Length / block; b++) decode(data.Slice(b * bytes, bytes), output.Slice(b * block, block));
    }

    private static (BlockEncoder Encode, BlockDecoder Decode) Codec(GgmlType type, string verb) => type switch
    {
        GgmlType.Q8_0 => (GgmlBlocks32.EncodeQ8_0, GgmlBlocks32.DecodeQ8_0),
        GgmlType.Q4_0 => (GgmlBlocks32.EncodeQ4_0, GgmlBlocks32.DecodeQ4_0),
        GgmlType.Q4_1 => (GgmlBlocks32.EncodeQ4_1, GgmlBlocks32.DecodeQ4_1),
        GgmlType.Q5_0 => (GgmlBlocks32.EncodeQ5_0, GgmlBlocks32.DecodeQ5_0),
        GgmlType.Q5_1 => (GgmlBlocks32.EncodeQ5_1, GgmlBlocks32.DecodeQ5_1),
        GgmlType.Q2_K => (GgmlKQuants.EncodeQ2_K, GgmlKQuants.DecodeQ2_K),
        GgmlType.Q3_K => (GgmlKQuants.EncodeQ3_K, GgmlKQuants.DecodeQ3_K),
        GgmlType.Q4_K => (GgmlKQuants.EncodeQ4_K, GgmlKQuants.DecodeQ4_K),
        GgmlType.Q5_K => (GgmlKQuants.EncodeQ5_K, GgmlKQuants.DecodeQ5_K),
        GgmlType.Q6_K => (GgmlKQuants.EncodeQ6_K, GgmlKQuants.DecodeQ6_K),
        _ => throw new NotSupportedException($"cannot {verb} ggml type {type} (supported: {GgmlTypes.SupportedNames})"),
    };

    /// <summary>float → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.</summary>
    public static ushort ToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    public static float FromBf16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
