using Substrate.Models;
using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

public class FusedRotaryTests
{
    // 3 query heads, 1 key head, 1 value head of hd 20 (half 10: a vector of 8 and a scalar tail).
    const int B = 2, T = 5, HeadDim = 20, QueryHeads = 3, KeyHeads = 1;
    const int Rotated = (QueryHeads + KeyHeads) * HeadDim, Width = Rotated + KeyHeads * HeadDim;

    [Theory]
    [InlineData(ScalarType.Float32, false)]
    [InlineData(ScalarType.BFloat16, false)]
    [InlineData(ScalarType.Float32, true)] // a position per row, as packed rows have
    public void ForwardAndBackwardMatchRotateHalf(ScalarType dtype, bool perRowPositions)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var rotary = new RotaryEmbedding(HeadDim, maxPositions: 16, theta: 10000);
        var positions = perRowPositions ? tensor(new long[] { 0, 1, 2, 0, 1, 3, 4, 5, 6, 7 }).view(B, T) : null;
        var (cos, sin) = positions is null ? rotary.Slice(2, T, CPU, ScalarType.Float32) : rotary.Gather(positions, CPU, ScalarType.Float32);
        var qkv = randn(B, T, Width).to(dtype);
        var upstream = randn(B, T, Width).to(dtype);
        double scale = 1 / Math.Sqrt(HeadDim);

        // The reference in fp32: RotaryEmbedding.Apply per head group, queries scaled, values as they are.
        var reference = qkv.to(ScalarType.Float32).clone().requires_grad_(true);
        var parts = reference.split([QueryHeads * HeadDim, KeyHeads * HeadDim, KeyHeads * HeadDim], -1);
        var q = RotaryEmbedding.Apply(parts[0].view(B, T, QueryHeads, HeadDim), cos, sin) * scale;
        var k = RotaryEmbedding.Apply(parts[1].view(B, T, KeyHeads, HeadDim), cos, sin);
        var expected = cat([q.view(B, T, -1), k.view(B, T, -1), parts[2]], -1);
        expected.backward([upstream.to(ScalarType.Float32)]);

        var input = qkv.clone().requires_grad_(true);
        var actual = FusedRotary.Apply(input, cos, sin, HeadDim, Rotated, QueryHeads * HeadDim, scale);
        actual.backward([upstream]);
        Assert.Equal(dtype, actual.dtype);
        double tolerance = dtype == ScalarType.Float32 ? 1e-5 : 1e-2;
        Assert.True(actual.to(ScalarType.Float32).allclose(expected, rtol: tolerance, atol: tolerance),
            $"forward max difference {(actual.to(ScalarType.Float32) - expected).abs().max().item<float>()}");
        Assert.True(input.grad!.to(ScalarType.Float32).allclose(reference.grad!, rtol: tolerance, atol: tolerance),
            $"backward max difference {(input.grad!.to(ScalarType.Float32) - reference.grad!).abs().max().item<float>()}");
    }
}
