namespace Substrate.Training.Tests;

/// <summary>A run whose loss becomes NaN or infinite stops with one error and leaves its last good checkpoint and metrics alone.</summary>
public class DivergenceTests
{
    [Fact]
    public void A_diverging_run_stops_at_the_first_non_finite_step_and_keeps_its_checkpoint()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        var run = dir.Combine("run");
        // An absurd learning rate with no warm-up and no clipping: the weights blow up after a step or two.
        string[] diverging = [.. TestData.TinyRun, "lr=1e12", "min_lr=1e12", "warmup_steps=0", "grad_clip=0", "checkpoint_every=1", "eval_every=0"];
        var e = Assert.Throws<NonFiniteLossException>(() => Pretrainer.Run(new PretrainOptions
        {
            DataDirectory = data, OutputDirectory = run, Overrides = diverging, MaxSteps = 50, Threads = 1, PeakFlops = 1e11,
        }));
        var failed = int.Parse(System.Text.RegularExpressions.Regex.Match(e.Message, @"^step (\d+):").Groups[1].Value);
        Assert.InRange(failed, 2, 50);
        Assert.Contains("the last good checkpoint is", e.Message);
        var checkpoint = RunCheckpoint.Find(run)!;
        Assert.Equal(failed - 1, TrainerState.Read(Path.Combine(checkpoint, TrainerState.FileName)).Step);
        var losses = MetricsLog.Read(Path.Combine(run, MetricsLog.FileName)).Where(r => r.Loss is not null).ToList();
        Assert.Equal(failed - 1, losses.Count);
        Assert.All(losses, r => Assert.True(double.IsFinite(r.Loss!.Value)));
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_an_error_not_a_fresh_run()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        var e = Assert.Throws<ArgumentException>(() => Pretrainer.Run(new PretrainOptions
        {
            DataDirectory = data, OutputDirectory = dir.Combine("run"), Overrides = TestData.TinyRun, MaxSteps = 2, Threads = 1, PeakFlops = 1e11,
            Resume = true,
        }));
        Assert.Contains("--resume: no training checkpoint", e.Message);
    }
}
