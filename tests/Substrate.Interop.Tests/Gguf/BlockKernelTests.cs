using System.Runtime.Intrinsics.X86;
using Substrate.Inference.CpuDecode;
using Xunit.Abstractions;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// Every block type the CPU decoder multiplies in place, through <see cref="CpuBlockFormats"/>' table, against ggml-cpu's
/// own code in the library llama.cpp runs: the activation quantizer (byte-equal), the row dequantizer (equal floats) and
/// the dot product <c>ggml_vec_dot_{type}_{activation}</c> — bit-equal for the 32-value types, whose integer sums are
/// exact and added in ggml's order; within 1e-6 of Σ|w·x| for the K-quants, whose fp32 adds differ in order.
/// </summary>
public class BlockKernelTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("q4_0", WeightFormat.Q4_0, 512, 1)]
    [InlineData("q4_0", WeightFormat.Q4_0, 4864, 2)]
    [InlineData("q5_0", WeightFormat.Q5_0, 512, 3)]
    [InlineData("q5_0", WeightFormat.Q5_0, 4864, 4)]
    [InlineData("q4_1", WeightFormat.Q4_1, 512, 5)]
    [InlineData("q4_1", WeightFormat.Q4_1, 4864, 6)]
    [InlineData("q5_1", WeightFormat.Q5_1, 512, 7)]
    [InlineData("q5_1", WeightFormat.Q5_1, 4864, 8)]
    [InlineData("q2_K", WeightFormat.Q2_K, 512, 9)]
    [InlineData("q2_K", WeightFormat.Q2_K, 4864, 10)]
    [InlineData("q3_K", WeightFormat.Q3_K, 512, 11)]
    [InlineData("q3_K", WeightFormat.Q3_K, 4864, 12)]
    [InlineData("q5_K", WeightFormat.Q5_K, 512, 13)]
    [InlineData("q5_K", WeightFormat.Q5_K, 4864, 14)]
    [InlineData("q4_K", WeightFormat.Q4_K, 4864, 15)]
    [InlineData("q6_K", WeightFormat.Q6_K, 4864, 16)]
    [InlineData("q8_0", WeightFormat.Q8_0, 4864, 17)]
    public unsafe void A_block_types_dot_product_and_dequantizer_agree_with_ggml_cpus(string type, WeightFormat format, int n, int seed)
    {
        var block = CpuBlockFormats.For(format);
        var activation = block.Activation.ToString().ToLowerInvariant().Replace("q8_k", "q8_K");
        var (x, weights) = QuantizedDecoderTests.Inputs(n, seed, zeroTail: block.Values); // an all-zero activation block: scale 0
        var ours = new byte[CpuBlockFormats.ActivationBytes(block.Activation, n)];
        fixed (float* px = x)
        fixed (byte* py = ours) CpuBlockFormats.QuantizeActivations(block.Activation, px, py, n);
        Assert.Equal(GgmlReference.QuantizeActivations(activation, x, ours.Length), ours);

        var exact = block.Values == 32 && Avx2.IsSupported && Fma.IsSupported;
        var worst = 0.0;
        for (var row = 0; row < 8; row++)
        {
            var w = GgmlReference.Quantize(type, weights(), n / block.Values * block.Bytes);
            float dot;
            var values = new float[n];
            fixed (byte* pw = w)
            fixed (byte* px = ours)
            fixed (float* pv = values)
            {
                dot = block.Dot(pw, px, n / block.Values);
                block.Dequantize(pw, pv, n);
            }
            var reference = GgmlReference.Dequantize(type, w, n);
            Assert.Equal(reference, values);
            var theirs = GgmlReference.VecDot($"{type}_{activation}", n, w, ours);
            if (exact) Assert.Equal(BitConverter.SingleToInt32Bits(theirs), BitConverter.SingleToInt32Bits(dot));
            var scale = reference.Zip(x, (a, b) => Math.Abs(a * b)).Sum(); // Σ|w·x|: the sum's scale
            worst = Math.Max(worst, Math.Abs(dot - theirs) / scale);
        }
        output.WriteLine($"{type}·{activation}, n = {n}: worst |ours − ggml| / Σ|w·x| = {worst:G3}{(exact ? " (bit-equal)" : "")}");
        Assert.True(worst < 1e-6, $"{type}: {worst}"); // the integer sums are exact; only the fp32 adds differ in order
    }
}
