using Substrate.Nn.Kernels;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Nn.Tests;

public class FusedSwiGluTests
{
    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void ForwardAndBackwardMatchSiluTimesUp(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        manual_seed(21);
        const int I = 45; // 16 + 16 + 8 + 5: 16-lane, 8-lane and scalar parts of a row
        var gateUp = (randn(5, 9, 2 * I) * 3).to(dtype);
        var upstream = randn(5, 9, I).to(dtype);

        // The reference in fp32 from the same (rounded) inputs: silu(g) · u.
        var reference = gateUp.to(ScalarType.Float32).clone().requires_grad_(true);
        var expected = F.silu(reference.narrow(-1, 0, I)) * reference.narrow(-1, I, I);
        expected.backward([upstream.to(ScalarType.Float32)]);

        var input = gateUp.clone().requires_grad_(true);
        var actual = FusedSwiGlu.Apply(input);
        actual.backward([upstream]);
        Assert.Equal(dtype, actual.dtype);
        Assert.Equal(new long[] { 5, 9, I }, actual.shape);
        double rtol = dtype == ScalarType.Float32 ? 1e-5 : 8e-3; // bf16: one rounding of the fp32 result
        Assert.True(actual.to(ScalarType.Float32).allclose(expected, rtol: rtol, atol: 1e-5),
            $"forward max difference {(actual.to(ScalarType.Float32) - expected).abs().max().item<float>()}");
        Assert.True(input.grad!.to(ScalarType.Float32).allclose(reference.grad!, rtol: rtol, atol: 1e-5),
            $"backward max difference {(input.grad!.to(ScalarType.Float32) - reference.grad!).abs().max().item<float>()}");
    }
}
