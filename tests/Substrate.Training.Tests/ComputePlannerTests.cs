namespace Substrate.Training.Tests;

public class ComputePlannerTests
{
    [Fact]
    public void PicksTheLargestCandidateThatSeesTwentyTokensPerParameter()
    {
        var family = ComputePlanner.Family(vocabSize: 8192);
        var sizes = family.Select(c => ModelFlops.Parameters(c.Config)).ToList();
        Assert.Equal(sizes.Order(), sizes); // the family grows
        // A machine doing 6·N·tps = 1 TFLOP/s: tokens/s ∝ 1/N.
        double Tps(Substrate.Models.ModelConfig c) => 1e12 / (6.0 * ModelFlops.Parameters(c));
        var budget = TimeSpan.FromMinutes(10);
        var plan = ComputePlanner.Plan(budget, family, Tps, batchSize: 8, seqLen: 256);

        // D = tps·t = 1e12·600/(6N) ≥ 20N  ⇔  N ≤ √(1e14/20) ≈ 2.24M.
        double limit = Math.Sqrt(1e12 * 600 / 6 / 20);
        Assert.True(plan.Parameters <= limit);
        var next = family.Select(c => ModelFlops.Parameters(c.Config)).First(n => n > plan.Parameters);
        Assert.True(next > limit);
        Assert.Equal((int)(plan.TokensPerSecond * 600 / 2048), plan.Steps);
        Assert.Equal(plan.Measured.Count - 2, plan.Measured.ToList().FindIndex(m => m.Name == plan.Name)); // stopped after the first miss
        Assert.Contains($"max_steps={plan.Steps}", plan.Overrides);

        // The typed plan (quickstart's) is the configuration its --set line resolves to on the command line.
        var typed = new PretrainConfig(plan.Model, plan.ApplyTo(new TrainConfig()));
        Assert.Equal(ConfigResolver.Resolve("tiny", plan.Overrides, dataVocabSize: 8192).ToJson(), typed.ToJson());
    }

    [Fact]
    public void FallsBackToTheSmallestCandidateWhenNoneFits()
    {
        var plan = ComputePlanner.Plan(TimeSpan.FromSeconds(1), ComputePlanner.Family(1000), _ => 10.0);
        Assert.Equal("d64-l2", plan.Name);
        Assert.Contains("under-trained", plan.Reason);
        Assert.Single(plan.Measured);
    }

    [Fact]
    public void MeasuresRealThroughputOfATinyShape()
    {
        var config = ComputePlanner.Family(300)[0].Config;
        double tps = ComputePlanner.MeasureTokensPerSecond(config, batchSize: 2, seqLen: 16, TorchSharp.torch.ScalarType.Float32, steps: 1, warmup: 1);
        // A measurement, not a speed claim (a loaded machine gave 13 tokens/s): positive and finite is what the planner needs.
        Assert.True(double.IsFinite(tps) && tps > 0, $"{tps} tokens/s");
    }
}
