using Substrate.Nn.Ggml;
using Substrate.Nn.Quantized;
using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

public class QuantizedLinearTests
{
    /// <summary>The scalar decoders (ggml's dequantize_row_*, NF4's code · absmax) over the blocks' bytes: (out, in) fp32.</summary>
    static float[] ScalarDecode(QuantizedWeight w)
    {
        var bytes = w.Blocks.data<byte>().ToArray();
        var values = new float[w.OutFeatures * w.InFeatures];
        if (w.Format != WeightQuantization.Nf4)
        {
            GgmlQuant.Decode(bytes, w.Format == WeightQuantization.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q4_K, values);
            return values;
        }
        for (int b = 0; b < values.Length / Nf4.BlockSize; b++)
            Nf4.DecodeBlock(bytes.AsSpan(b * Nf4.BlockBytes, Nf4.BlockBytes), values.AsSpan(b * Nf4.BlockSize, Nf4.BlockSize));
        return values;
    }

    static QuantizedWeight Seeded(WeightQuantization format, int outFeatures = 6, int inFeatures = 512)
    {
        manual_seed(11);
        using var dense = randn(outFeatures, inFeatures) * 0.05;
        dense[1, 3] = tensor(0f); // an exact zero, and a row with one large value (a block's extreme)
        dense[2, 7] = tensor(1.5f);
        return QuantizedWeight.Quantize(dense, format);
    }

    [Theory]
    [InlineData(WeightQuantization.Q8_0, 34 * 16)]
    [InlineData(WeightQuantization.Q4_K, 144 * 2)]
    [InlineData(WeightQuantization.Nf4, 36 * 8)]
    public void TensorDequantizationIsBitIdenticalToTheScalarDecoder(WeightQuantization format, int rowBytes)
    {
        using var w = Seeded(format);
        Assert.Equal(new long[] { 6, rowBytes }, w.Blocks.shape);
        using var dense = w.Dequantize(ScalarType.Float32);
        using var ops = w.DequantizeWithTensorOps(ScalarType.Float32); // the any-device path
        Assert.Equal(ScalarDecode(w), dense.data<float>().ToArray());
        Assert.Equal(ScalarDecode(w), ops.data<float>().ToArray());
        using var direct = w.Dequantize(ScalarType.BFloat16);   // decoded straight into bf16, no fp32 (out, in) in between
        using var rounded = dense.to(ScalarType.BFloat16);      // libtorch's rounding of the fp32 decode
        Assert.Equal(ScalarType.BFloat16, direct.dtype);
        Assert.Equal(Bits(rounded), Bits(direct));
    }

    /// <summary>The bit patterns of a bf16 tensor's values (widened exactly to fp32), so −0 and 0 differ.</summary>
    static int[] Bits(Tensor bf16)
    {
        using var wide = bf16.to(ScalarType.Float32);
        return wide.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    [Theory]
    [InlineData(WeightQuantization.Q8_0)]
    [InlineData(WeightQuantization.Q4_K)]
    [InlineData(WeightQuantization.Nf4)]
    public void ABf16WeightQuantizesToTheBlocksOfItsFp32Widening(WeightQuantization format)
    {
        manual_seed(9);
        using var bf16 = (randn(37, 512) * 0.05).to(ScalarType.BFloat16); // 37 rows: chunks of 16 and a short last one
        using var fp32 = bf16.to(ScalarType.Float32);
        using var fromBf16 = QuantizedWeight.Quantize(bf16, format);  // rows widened one at a time
        using var fromFp32 = QuantizedWeight.Quantize(fp32, format);
        Assert.Equal(fromFp32.Blocks.data<byte>().ToArray(), fromBf16.Blocks.data<byte>().ToArray());
        Assert.Contains(fromBf16.Blocks.data<byte>().ToArray(), b => b != 0);
    }

    [Fact]
    public void Q8_0AndQ4_KBlocksAreGgmlsBytes()
    {
        manual_seed(5);
        using var dense = randn(3, 256);
        var values = dense.data<float>().ToArray();
        foreach (var (format, type) in new[] { (WeightQuantization.Q8_0, GgmlType.Q8_0), (WeightQuantization.Q4_K, GgmlType.Q4_K) })
        {
            using var w = QuantizedWeight.Quantize(dense, format);
            Assert.Equal(GgmlQuant.Encode(values, type), w.Blocks.data<byte>().ToArray());
        }
    }

    [Fact]
    public void Nf4TakesTheNearestCodeOfTheAbsmaxScaledValue()
    {
        for (int k = 0; k < 16; k++) Assert.Equal(k, Nf4.Nearest(Nf4.Codes[k]));
        Assert.Equal(7, Nf4.Nearest(0.0397f));  // just below the midpoint of 0 and 0.0796
        Assert.Equal(8, Nf4.Nearest(0.0399f));
        Span<float> x = stackalloc float[64];
        x[0] = -2f; x[1] = 1f; x[2] = 0.5f;
        Span<byte> block = stackalloc byte[Nf4.BlockBytes];
        Nf4.EncodeBlock(x, block);
        Assert.Equal(2f, BitConverter.ToSingle(block[..4]));
        Assert.Equal((0 << 4) | 12, block[4]);  // -2 / 2 = -1 → code 0 (high nibble first); 1 / 2 = 0.5 → 0.4407 (code 12, below 0.5017)
        Assert.Equal((10 << 4) | 7, block[5]);  // 0.25 → 0.2461 (code 10); 0 → code 7
        Assert.Equal((7 << 4) | 7, block[6]);
    }

    [Theory]
    [InlineData(WeightQuantization.Q8_0)]
    [InlineData(WeightQuantization.Q4_K)]
    [InlineData(WeightQuantization.Nf4)]
    public void ForwardAndInputGradientEqualAPlainLinearOverTheDequantizedWeight(WeightQuantization format)
    {
        var w = Seeded(format, 8, 512);
        using var layer = new QuantizedLinear(w);
        Assert.Empty(layer.parameters());                 // nothing to train, nothing in a state dict
        using var reference = w.Dequantize(ScalarType.Float32);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var x = randn(2, 3, 512).to(dtype).requires_grad_();
            using var y = layer.call(x);
            using var w16 = reference.to(dtype);
            using var expected = nn.functional.linear(x.detach(), w16);
            Assert.Equal(dtype, y.dtype);
            Assert.True(y.eq(expected).all().item<bool>(), $"{format} {dtype} forward");
            using var dy = randn(2, 3, 8).to(dtype);
            y.backward([dy]);
            using var expectedGrad = dy.matmul(w16);
            Assert.True(x.grad!.eq(expectedGrad).all().item<bool>(), $"{format} {dtype} input gradient");
        }
    }

    [Theory]
    [InlineData(WeightQuantization.Q8_0)]
    [InlineData(WeightQuantization.Nf4)]
    public void TiledProductsEqualTheWholeWeightsProducts(WeightQuantization format)
    {
        // (4160, 1024): the forward takes rows in tiles of 2048 (the last of 64), the backward columns in tiles of 480 (nf4: 448).
        manual_seed(4);
        using var dense = randn(4160, 1024) * 0.02;
        using var w = QuantizedWeight.Quantize(dense, format);
        Assert.True(w.OutFeatures * (long)w.InFeatures > 2 * QuantizedMatmul.TileElements);
        using var whole = w.Dequantize(ScalarType.BFloat16);
        using var tile = w.Dequantize(ScalarType.BFloat16, 2048, 64, 256, 512);
        Assert.True(tile.eq(whole.narrow(0, 2048, 64).narrow(1, 256, 512)).all().item<bool>(), "a tile is the whole weight's values there");
        using var layer = new QuantizedLinear(w);
        using var x = randn(2, 5, 1024).to(ScalarType.BFloat16).requires_grad_();
        using var y = layer.call(x);
        using var expected = nn.functional.linear(x.detach(), whole);
        Assert.True(y.eq(expected).all().item<bool>(), "forward");
        using var dy = randn(2, 5, 4160).to(ScalarType.BFloat16);
        y.backward([dy]);
        using var expectedGrad = dy.matmul(whole);
        Assert.True(x.grad!.eq(expectedGrad).all().item<bool>(), "input gradient");
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Dequantize(ScalarType.BFloat16, 0, 1, 100, 256)); // not on a block boundary
    }
}
