using static TorchSharp.torch;

namespace Substrate.Nn.Quantized;

/// <summary>
/// Dequantizers over packed blocks (out, nb, bytes) uint8 → values (out, nb, per-block) fp32, as libtorch ops: the
/// same arithmetic as ggml's dequantize_row_q8_0 / dequantize_row_q4_K and bitsandbytes' NF4 decode, so the result
/// is bit-identical to the scalar decoders (<see cref="Ggml.GgmlQuant.Decode(ReadOnlySpan{byte}, Ggml.GgmlType, Span{float})"/>,
/// <see cref="Nf4.DecodeBlock"/>). Run inside a dispose scope (intermediates are left to it).
/// </summary>
static class BlockTensors
{
    /// <summary>The little-endian IEEE float of <paramref name="mantissaBits"/> and <paramref name="exponentBits"/> (fp16: 10, 5; fp32:
    /// 23, 8) at byte <paramref name="at"/> of each block → (out, nb, 1) fp32, decoded with integer ops and a table of powers of two
    /// (exact; libtorch 0.107 has no dtype view). Infinities and NaN are not decoded (block scales are finite).</summary>
    static Tensor FloatAt(Tensor raw, int at, int mantissaBits, int exponentBits)
    {
        int byteCount = (1 + mantissaBits + exponentBits) / 8;
        var bits = zeros([raw.shape[0], raw.shape[1], 1], ScalarType.Int64, raw.device);
        for (int k = byteCount - 1; k >= 0; k--) bits = bits.mul(256).add(raw.narrow(-1, at + k, 1).to(ScalarType.Int64));
        long one = 1L << mantissaBits;
        var mantissa = bits.remainder(one);
        var exponent = bits.floor_divide(one).remainder(1L << exponentBits);
        var negative = bits.floor_divide(one << exponentBits);
        int bias = (1 << (exponentBits - 1)) - 1;
        var powers = tensor(Enumerable.Range(0, 1 << exponentBits).Select(e => (float)Math.ScaleB(1, Math.Max(e, 1) - bias - mantissaBits)).ToArray(),
            device: raw.device);                                                                         // (2^E)
        var scale = powers.index_select(0, exponent.flatten()).view(exponent.shape);                    // (out, nb, 1)
        var significand = mantissa.add(exponent.gt(0).to(ScalarType.Int64).mul(one)).to(ScalarType.Float32);
        return significand.mul_(scale).mul_(negative.mul(-2).add(1).to(ScalarType.Float32));
    }

    static Tensor Half(Tensor raw, int at) => FloatAt(raw, at, 10, 5);

    /// <summary>Q8_0 (34 bytes): fp16 d, 32 int8 q; x = q · d.</summary>
    public static Tensor Q8_0(Tensor raw)
    {
        var d = Half(raw, 0);                                                          // (out, nb, 1)
        var q = raw.narrow(-1, 2, 32).to(ScalarType.Int32);                           // (out, nb, 32) as unsigned bytes
        q = q.sub(q.ge(128).to(ScalarType.Int32).mul(256));                           // two's complement → int8 values
        return q.to(ScalarType.Float32).mul_(d);
    }

    /// <summary>Q4_K (144 bytes): fp16 d, fp16 dmin, 12 bytes of eight 6-bit scales and mins (ggml's get_scale_min_k4), 128
    /// bytes of nibbles — byte i of group g holds value i of sub-block 2g (low nibble) and of 2g + 1 (high); x = d·sc·q − dmin·m.</summary>
    public static Tensor Q4_K(Tensor raw)
    {
        var d = Half(raw, 0);                                  // (out, nb, 1)
        var dmin = Half(raw, 2);                               // (out, nb, 1)
        var s = raw.narrow(-1, 4, 12).to(ScalarType.Int32);    // (out, nb, 12)
        var (s0, s4, s8) = (s.narrow(-1, 0, 4), s.narrow(-1, 4, 4), s.narrow(-1, 8, 4));
        var scales = cat([s0.remainder(64), s8.remainder(16).add(s0.floor_divide(64).mul(16))], -1); // (out, nb, 8)
        var mins = cat([s4.remainder(64), s8.floor_divide(16).add(s4.floor_divide(64).mul(16))], -1);  // (out, nb, 8)
        var dl = d.mul(scales.to(ScalarType.Float32)).unsqueeze(-1);     // (out, nb, 8, 1)
        var ml = dmin.mul(mins.to(ScalarType.Float32)).unsqueeze(-1);    // (out, nb, 8, 1)
        var qs = raw.narrow(-1, 16, 128).reshape(raw.shape[0], raw.shape[1], 4, 1, 32);  // (out, nb, 4 groups, 1, 32)
        var q = cat([qs.remainder(16), qs.floor_divide(16)], 3)                          // (out, nb, 4, 2, 32)
            .view(raw.shape[0], raw.shape[1], 8, 32).to(ScalarType.Float32);            // (out, nb, 8 sub-blocks, 32)
        return dl.mul(q).sub_(ml).view(raw.shape[0], raw.shape[1], 256);
    }

    /// <summary>NF4 (36 bytes): fp32 absmax, 32 bytes of two codes (high nibble first); x = code · absmax.</summary>
    public static Tensor Nf4(Tensor raw)
    {
        var absmax = FloatAt(raw, 0, 23, 8);                                       // (out, nb, 1)
        var packed = raw.narrow(-1, 4, 32).unsqueeze(-1);                            // (out, nb, 32, 1)
        var index = cat([packed.floor_divide(16), packed.remainder(16)], -1)        // (out, nb, 32, 2)
            .flatten().to(ScalarType.Int32);
        var codes = tensor(Quantized.Nf4.Codes, device: raw.device);                 // (16)
        return codes.index_select(0, index).view(raw.shape[0], raw.shape[1], Quantized.Nf4.BlockSize).mul_(absmax);
    }
}
