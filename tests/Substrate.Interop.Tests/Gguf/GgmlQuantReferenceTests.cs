using Substrate.Nn.Ggml;
using System.Buffers.Binary;
using Substrate.Interop.Gguf;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// Every block type Substrate reads and writes against ggml's own reference code in llama.cpp's native library:
/// our encoder's bytes equal quantize_row_*_ref's, and our decoder's floats equal dequantize_row_*'s bit for bit —
/// on weights of several shapes (normal, heavy-tailed, all-zero, constant, tiny, one outlier) and on random block bytes.
/// </summary>
public class GgmlQuantReferenceTests
{
    public static TheoryData<GgmlType> BlockTypes => new()
    {
        GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    };

    private static string Name(GgmlType type) => type.ToString().ToLowerInvariant().Replace("_k", "_K");

    /// <summary>16 super-blocks of 256: Gaussian, Student-t-like, all zero, constant, 1e-6 scale, one outlier, all positive,
    /// all negative, and Gaussians at several scales.</summary>
    private static float[] Weights(int seed)
    {
        var rng = new Random(seed);
        float Gauss() => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var x = new float[16 * 256];
        for (int b = 0; b < 16; b++)
        {
            var block = x.AsSpan(256 * b, 256);
            for (int i = 0; i < 256; i++)
            {
                block[i] = b switch
                {
                    0 => Gauss(),
                    1 => Gauss() / MathF.Max(0.05f, MathF.Abs(Gauss())),
                    2 => 0f,
                    3 => 0.37f,
                    4 => 1e-6f * Gauss(),
                    5 => i == 77 ? 40f : 0.01f * Gauss(),
                    6 => MathF.Abs(Gauss()) + 0.5f,
                    7 => -MathF.Abs(Gauss()) - 0.1f,
                    _ => Gauss() * MathF.Pow(10, b - 12),
                };
            }
        }
        return x;
    }

    [Theory]
    [MemberData(nameof(BlockTypes))]
    public void Our_blocks_equal_ggml_reference_quantizer_and_decode_like_its_dequantizer(GgmlType type)
    {
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var x = Weights(seed);
            var ours = GgmlQuant.Encode(x, type);
            var theirs = GgmlReference.Quantize(Name(type), x, ours.Length);
            var (block, bytes) = GgmlTypes.Layout(type)!.Value;
            for (int b = 0; b < ours.Length / bytes; b++)
                Assert.True(ours.AsSpan(b * bytes, bytes).SequenceEqual(theirs.AsSpan(b * bytes, bytes)),
                    $"{type} seed {seed}: block {b} (elements {b * block}..{(b + 1) * block - 1}) differs from quantize_row_{Name(type)}_ref");
            AssertBitEqual(GgmlReference.Dequantize(Name(type), theirs, x.Length), GgmlQuant.Decode(theirs, type, x.Length), type);
        }
    }

    [Theory]
    [MemberData(nameof(BlockTypes))]
    public void Random_block_bytes_decode_bit_for_bit_as_ggml_does(GgmlType type)
    {
        var (block, bytes) = GgmlTypes.Layout(type)!.Value;
        var rng = new Random(11);
        var data = new byte[64 * bytes];
        rng.NextBytes(data);
        // fp16 fields (d, dmin, m) made finite: a random NaN/Inf scale would only test NaN propagation.
        foreach (int offset in HalfOffsets(type))
            for (int b = 0; b < 64; b++)
                BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(b * bytes + offset), (Half)((rng.NextDouble() - 0.5) * 0.2));
        int count = 64 * block;
        AssertBitEqual(GgmlReference.Dequantize(Name(type), data, count), GgmlQuant.Decode(data, type, count), type);
    }

    private static int[] HalfOffsets(GgmlType type) => type switch
    {
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    private static void AssertBitEqual(float[] expected, float[] actual, GgmlType type)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{type}: element {i} decodes to {actual[i]:R}, ggml's dequantize_row gives {expected[i]:R}");
    }
}
