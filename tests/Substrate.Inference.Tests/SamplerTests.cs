using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

public class SamplerTests
{
    private static Tensor Logits() => tensor(new float[] { 1.0f, 3.0f, 2.5f, -1.0f, 0.5f });

    [Fact]
    public void TemperatureZeroIsArgmax()
    {
        using var s = new Sampler(temperature: 0);
        using var logits = Logits();
        Assert.Equal(1, s.Sample(logits, []));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void Logit_bias_plus_100_forces_a_token_and_minus_100_forbids_it(double temperature)
    {
        using var logits = Logits();
        var values = logits.data<float>().ToArray();
        using var forced = new Sampler(temperature, seed: 1, logitBias: new Dictionary<int, double> { [3] = 100 });
        using var forbidden = new Sampler(temperature, seed: 1, logitBias: new Dictionary<int, double> { [0] = -100, [1] = -100, [2] = -100, [4] = -100 });
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(3, forced.Sample(logits, []));
            Assert.Equal(3, forced.Sample(values, []));   // the greedy path without TorchSharp too
            Assert.Equal(3, forbidden.Sample(logits, []));
            Assert.Equal(3, forbidden.Sample(values, []));
        }
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        using var logits = Logits();
        using var s = new Sampler(temperature: 0, repetitionPenalty: 1.5);
        Assert.Equal(2, s.Sample(logits, [1])); // 3.0 / 1.5 = 2.0 < 2.5
        Assert.Equal(1, s.Sample(logits, [3])); // -1.0 · 1.5, argmax unchanged
        Assert.Equal(new float[] { 1.0f, 3.0f, 2.5f, -1.0f, 0.5f }, logits.data<float>().ToArray()); // input untouched
    }

    [Fact]
    public void TopKOneAndTinyTopPAreGreedy()
    {
        using var logits = Logits();
        using var k = new Sampler(temperature: 5, topK: 1, seed: 1);
        using var p = new Sampler(temperature: 5, topP: 0.01, seed: 1);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(1, k.Sample(logits, []));
            Assert.Equal(1, p.Sample(logits, []));
        }
    }

    [Fact]
    public void TopKAndTopPKeepOnlyTheirSets()
    {
        using var logits = Logits();
        using var k = new Sampler(temperature: 100, topK: 2, seed: 3);
        var drawnK = Enumerable.Range(0, 200).Select(_ => k.Sample(logits, [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 2 }, drawnK);
        // probabilities at T=1: [0.086, 0.63, 0.38·…]; sorted 1 (0.52), 2 (0.32), 0 (0.07), … → top-p 0.8 keeps {1, 2}
        using var p = new Sampler(temperature: 1, topP: 0.8, seed: 3);
        var drawnP = Enumerable.Range(0, 200).Select(_ => p.Sample(logits, [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 2 }, drawnP);
    }

    [Fact]
    public void SameSeedSameDraws()
    {
        using var logits = Logits();
        using var a = new Sampler(seed: 42);
        using var b = new Sampler(seed: 42);
        var drawsA = Enumerable.Range(0, 50).Select(_ => a.Sample(logits, [])).ToArray();
        var drawsB = Enumerable.Range(0, 50).Select(_ => b.Sample(logits, [])).ToArray();
        Assert.Equal(drawsA, drawsB);
        Assert.True(drawsA.Distinct().Count() > 2);
    }

    [Theory]
    [InlineData(1e-38, 1.0, 1.0)]
    [InlineData(1.0, 5e-324, 1.0)]
    [InlineData(1.0, 1.0, 1e-300)]
    [InlineData(1e-38, 5e-324, 1e-300)]
    [InlineData(2.0, 1.0, 1e300)]
    public void Extreme_accepted_values_never_give_nan(double temperature, double topP, double penalty)
    {
        using var logits = tensor(new float[] { 1.0f, 3.0f, 2.5f, -1.0f, 0.5f, float.MaxValue, -float.MaxValue, float.NegativeInfinity });
        using var s = new Sampler(temperature, topP: topP, repetitionPenalty: penalty, seed: 5);
        for (var i = 0; i < 20; i++)
        {
            var id = s.Sample(logits, [0, 1, 3, 5]);
            Assert.InRange(id, 0, 6);
        }
        using var greedy = new Sampler(0, repetitionPenalty: penalty);
        Assert.InRange(greedy.Sample(logits.data<float>().ToArray(), [0, 1, 3, 5]), 0, 6);
    }

    [Fact]
    public void A_tiny_temperature_is_greedy()
    {
        using var logits = Logits();
        using var s = new Sampler(temperature: 1e-38, seed: 9);
        Assert.All(Enumerable.Range(0, 20), _ => Assert.Equal(1, s.Sample(logits, [])));
    }

    [Fact]
    public void Nan_logits_are_an_error_not_a_draw()
    {
        using var logits = tensor(new float[] { 1.0f, float.NaN, 2.0f });
        using var s = new Sampler(seed: 1);
        Assert.Throws<InvalidOperationException>(() => s.Sample(logits, []));
        using var greedy = new Sampler(0);
        Assert.Throws<InvalidOperationException>(() => greedy.Sample(new float[] { 1.0f, float.NaN }, []));
    }
}
