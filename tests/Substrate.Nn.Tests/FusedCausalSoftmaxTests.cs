using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

public class FusedCausalSoftmaxTests
{
    [Theory]
    [InlineData(ScalarType.Float32, 0)]
    [InlineData(ScalarType.Float32, 5)]  // queries at positions 5 … 10 of 11 keys (the split causal path's second half)
    [InlineData(ScalarType.BFloat16, 0)]
    [InlineData(ScalarType.BFloat16, 5)]
    [InlineData(ScalarType.Float32, 22)] // 23 … 28 visible keys: 16-lane, 8-lane and scalar parts of a row
    [InlineData(ScalarType.BFloat16, 22)]
    public void ForwardAndBackwardMatchMaskedSoftmax(ScalarType dtype, long start)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        const int queries = 6, rep = 3;
        long keys = start + queries; // 6, 11 or 28: not multiples of 8, so vector tails run
        var scores = (randn(2, 2, rep * queries, keys) * 4).to(dtype);
        var upstream = randn(2, 2, rep * queries, keys).to(dtype);

        // The reference in fp32 from the same (rounded) inputs: row r is the query at start + r mod queries.
        var position = (arange(rep * queries) % queries + start).view(-1, 1);  // (rep·T, 1)
        var future = arange(keys).view(1, -1) > position;                       // (rep·T, S)
        var reference = scores.to(ScalarType.Float32).clone().requires_grad_(true);
        var expected = reference.masked_fill(future, double.NegativeInfinity).softmax(-1);
        expected.backward([upstream.to(ScalarType.Float32)]);

        var input = scores.clone().requires_grad_(true);
        var actual = FusedCausalSoftmax.Apply(input, queries, start);
        actual.backward([upstream]);
        Assert.Equal(dtype, actual.dtype);
        double tolerance = dtype == ScalarType.Float32 ? 1e-6 : 8e-3; // bf16: one rounding of the fp32 result
        Assert.True(actual.to(ScalarType.Float32).allclose(expected, rtol: tolerance, atol: 1e-6),
            $"forward max difference {(actual.to(ScalarType.Float32) - expected).abs().max().item<float>()}");
        Assert.Equal(0, actual.to(ScalarType.Float32).masked_select(future.expand_as(actual)).abs().sum().item<float>()); // exactly 0 above the diagonal
        var expectedGrad = reference.grad!;
        double gradTolerance = dtype == ScalarType.Float32 ? 1e-5 : 3e-2 * expectedGrad.abs().max().item<float>(); // bf16: p and dp rounded
        Assert.True(input.grad!.to(ScalarType.Float32).allclose(expectedGrad, rtol: 0, atol: gradTolerance),
            $"backward max difference {(input.grad!.to(ScalarType.Float32) - expectedGrad).abs().max().item<float>()}");
    }

    [Fact]
    public void ScoresThatAreNotBlocksOfQueriesAreRejected()
    {
        using var scores = zeros(1, 1, 5, 5);
        Assert.Throws<ArgumentException>(() => FusedCausalSoftmax.Apply(scores, 2, 0));
    }
}
