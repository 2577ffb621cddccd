using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

public class FusedRmsNormTests
{
    const double Eps = 1e-5;

    // The libtorch composition RmsNorm uses as its reference.
    static Tensor Reference(Tensor x, Tensor weight, ScalarType dtype) =>
        (x * x.square().mean([-1], keepdim: true).add(Eps).rsqrt() * weight).to(dtype);

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void ForwardAndBackwardMatchTheLibtorchComposition(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        const int H = 44; // not a multiple of 8: vector tails
        var x = (randn(3, 70, H) * 3).requires_grad_(true); // 210 rows: several row chunks
        var weight = (randn(H) * 0.5 + 1).requires_grad_(true);
        var upstream = randn(3, 70, H).to(dtype);

        var expected = Reference(x, weight, dtype);
        expected.backward([upstream]);
        var (dxExpected, dwExpected) = (x.grad!.clone(), weight.grad!.clone());
        x.grad!.zero_(); weight.grad!.zero_();

        var actual = FusedRmsNorm.Apply(x, weight, Eps, dtype);
        Assert.Equal(dtype, actual.dtype);
        actual.backward([upstream]);
        double rtol = dtype == ScalarType.Float32 ? 1e-5 : 8e-3; // bf16: at most one rounding step (2⁻⁸ relative) apart
        Assert.True(actual.to(ScalarType.Float32).allclose(expected.to(ScalarType.Float32), rtol: rtol, atol: 1e-6),
            $"forward max difference {(actual.to(ScalarType.Float32) - expected.to(ScalarType.Float32)).abs().max().item<float>()} (rtol {rtol})");
        Assert.True(x.grad!.allclose(dxExpected, rtol: 1e-4, atol: 1e-5), $"dx max difference {(x.grad! - dxExpected).abs().max().item<float>()}");
        Assert.True(weight.grad!.allclose(dwExpected, rtol: 1e-4, atol: 1e-4), $"dw max difference {(weight.grad! - dwExpected).abs().max().item<float>()}");
    }

    [Fact]
    public void GradientsAreBitIdenticalRunToRun()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var x = randn(513, 64);
        var weight = randn(64);
        var upstream = randn(513, 64).to(ScalarType.BFloat16);
        (Tensor, Tensor) Gradients()
        {
            var (xi, wi) = (x.clone().requires_grad_(true), weight.clone().requires_grad_(true));
            FusedRmsNorm.Apply(xi, wi, Eps, ScalarType.BFloat16).backward([upstream]);
            return (xi.grad!, wi.grad!);
        }
        var (dx1, dw1) = Gradients();
        var (dx2, dw2) = Gradients();
        Assert.True(dx1.equal(dx2).all().item<bool>() && dw1.equal(dw2).all().item<bool>());
    }

    [Fact]
    public void BFloat16RoundingMatchesLibtorch()
    {
        using var scope = NewDisposeScope();
        manual_seed(13);
        var values = cat([randn(4000) * 100, tensor(new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1.00390625f, 1.01171875f, 3.4e38f, 1e-40f })]);
        var expected = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(values.to(ScalarType.BFloat16).bytes).ToArray();
        var floats = values.data<float>().ToArray();
        Assert.Equal(expected, floats.Select(BFloat16Bits.FromSingle));
    }
}
