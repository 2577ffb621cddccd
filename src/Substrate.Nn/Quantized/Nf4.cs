using System.Buffers.Binary;

namespace Substrate.Nn.Quantized;

/// <summary>
/// NF4, the 4-bit NormalFloat of QLoRA (Dettmers et al. 2023) as bitsandbytes implements it: blocks of 64 values scaled by
/// their absmax into [-1, 1], each value the nearest of 16 codes (quantiles of N(0, 1), exact zero included), two codes a
/// byte with the first value in the high nibble. A block here is 36 bytes: the fp32 absmax (little-endian), then the 32
/// code bytes (bitsandbytes keeps the absmax in a separate array; the codes and scale are the same). x ≈ code · absmax.
/// </summary>
public static class Nf4
{
    public const int BlockSize = 64;
    public const int BlockBytes = 4 + BlockSize / 2;

    /// <summary>bitsandbytes' NF4 code book (create_normal_map), ascending.</summary>
    public static readonly float[] Codes =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
        -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    // Midpoints between neighbouring codes: a value above midpoint k takes code k + 1 or higher (bitsandbytes' decision tree).
    static readonly float[] Midpoints = Enumerable.Range(0, 15).Select(k => (Codes[k] + Codes[k + 1]) / 2).ToArray();

    /// <summary>The code index nearest to <paramref name="x"/> (in [-1, 1]).</summary>
    public static int Nearest(float x)
    {
        int lo = 0, hi = Midpoints.Length; // binary search: the count of midpoints below x
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (x > Midpoints[mid]) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Encodes one block of 64 values into 36 bytes.</summary>
    public static void EncodeBlock(ReadOnlySpan<float> x, Span<byte> block)
    {
        float absmax = 0;
        foreach (var v in x) absmax = Math.Max(absmax, Math.Abs(v));
        float scale = absmax > 0 ? 1f / absmax : 0f;
        BinaryPrimitives.WriteSingleLittleEndian(block, absmax);
        for (int j = 0; j < BlockSize / 2; j++)
            block[4 + j] = (byte)((Nearest(x[2 * j] * scale) << 4) | Nearest(x[2 * j + 1] * scale));
    }

    /// <summary>Decodes one 36-byte block into 64 values (the reference the tensor dequantizer is tested against).</summary>
    public static void DecodeBlock(ReadOnlySpan<byte> block, Span<float> y)
    {
        float absmax = BinaryPrimitives.ReadSingleLittleEndian(block);
        for (int j = 0; j < BlockSize / 2; j++)
        {
            y[2 * j] = Codes[block[4 + j] >> 4] * absmax;
            y[2 * j + 1] = Codes[block[4 + j] & 0xF] * absmax;
        }
    }
}
