using Substrate.Models;

namespace Substrate.Training.Tests;

public class PretrainerTests
{
    static PretrainOptions Options(string data, string output, int maxSteps, params string[] extra) => new()
    {
        DataDirectory = data, OutputDirectory = output, Config = "tiny",
        Overrides = [.. TestData.TinyRun, .. extra], MaxSteps = maxSteps, Threads = 1, PeakFlops = 1e11,
    };

    [Fact]
    public void LossFallsAndTheRunFolderHoldsModelMetricsAndPlot()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        var reports = new List<TrainProgress>();
        var result = Pretrainer.Run(Options(data, dir.Combine("run"), 40), new SyncProgress<TrainProgress>(reports.Add));

        Assert.Equal(40, result.Step);
        Assert.Equal("max_steps reached", result.StopReason);
        Assert.Equal(40 * 4 * 32, result.TokensSeen);
        Assert.InRange(result.Losses[0], 5.0, 6.0);              // ≈ ln 257 at initialization
        Assert.True(result.Losses.TakeLast(5).Average() < 2.5, $"loss did not fall: {string.Join(", ", result.Losses)}");
        Assert.NotNull(result.FinalValidationLoss);
        Assert.True(result.FinalValidationLoss < 3.0);

        Assert.Equal(TrainEvent.Started, reports[0].Event);
        Assert.Equal(TrainEvent.Finished, reports[^1].Event);
        Assert.Equal(40, reports.Count(r => r.Event == TrainEvent.Step));
        Assert.Equal(4, reports.Count(r => r.Event == TrainEvent.Validation)); // steps 10, 20, 30, 40
        var step = reports.Last(r => r.Event == TrainEvent.Step);
        Assert.True(step.TokensPerSecond > 0 && step.Mfu > 0 && step.Eta is not null);

        var run = dir.Combine("run");
        foreach (var file in new[] { "config.json", "model.safetensors", "train_config.json", "metrics.jsonl", "loss.png",
                     "checkpoint/optimizer.safetensors", "checkpoint/trainer_state.json" })
            Assert.True(File.Exists(Path.Combine(run, file)), file);
        var metrics = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal(Enumerable.Range(1, 40), metrics.Where(m => m.Loss != null).Select(m => m.Step));
        Assert.Equal(4, metrics.Count(m => m.ValidationLoss != null));

        using var model = ModelFolder.Load(run);
        Assert.Equal(257, model.Config.VocabSize); // from the data, not the preset
        Assert.Equal(32, model.Config.HiddenSize);
        Assert.Equal(256, model.Config.EosTokenId);
    }

    [Fact]
    public void AResumedRunReproducesTheUninterruptedLosses()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        string[] extra = ["checkpoint_every=4", "grad_accum_steps=2", "eval_every=0"];
        var straight = Pretrainer.Run(Options(data, dir.Combine("straight"), 12, extra));

        // A crash (any exception: SIGKILL leaves the same files) at step 7: the last checkpoint is step 4.
        var crashed = dir.Combine("crashed");
        Assert.Throws<IOException>(() => Pretrainer.Run(Options(data, crashed, 12, extra),
            new SyncProgress<TrainProgress>(p => { if (p is { Event: TrainEvent.Step, Step: 7 }) throw new IOException("killed"); })));
        Assert.Equal(4, TrainerState.Read(Path.Combine(crashed, "checkpoint", TrainerState.FileName)).Step);
        Assert.Equal(7, MetricsLog.Read(Path.Combine(crashed, "metrics.jsonl")).Count);

        var resumed = Pretrainer.Run(Options(data, crashed, 12, extra) with { Resume = true });
        Assert.Equal(12, resumed.Step);
        Assert.Equal(straight.Losses.Skip(4), resumed.Losses); // bit-exact
        Assert.Equal(straight.TokensSeen, resumed.TokensSeen);
        var metrics = MetricsLog.Read(Path.Combine(crashed, "metrics.jsonl"));
        Assert.Equal(Enumerable.Range(1, 12), metrics.Where(m => m.Loss != null).Select(m => m.Step)); // lines 5–7 of the crash were dropped
        Assert.Equal(File.ReadAllBytes(dir.Combine("straight", "model.safetensors")), File.ReadAllBytes(Path.Combine(crashed, "model.safetensors")));
    }

    [Fact]
    public void TimeLimitStopsCleanlyWithACheckpoint()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        var result = Pretrainer.Run(Options(data, dir.Combine("run"), 1000) with { TimeLimit = TimeSpan.Zero });
        Assert.Equal("time limit reached", result.StopReason);
        Assert.Equal(0, result.Step);
        Assert.NotNull(RunCheckpoint.Find(dir.Combine("run")));
    }

    [Fact]
    public void ShardOptimizerOnOneRankSaysItDoesNothing()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        var reports = new List<TrainProgress>();
        Pretrainer.Run(Options(data, dir.Combine("run"), 1000) with { TimeLimit = TimeSpan.Zero, ShardOptimizer = true },
            new SyncProgress<TrainProgress>(reports.Add));
        Assert.Contains("--shard-optimizer has no effect on one rank", reports.First(r => r.Event == TrainEvent.Started).Message);
    }

    [Fact]
    public void ClearErrorsForAnExistingRunAndATooSmallVocabulary()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        Pretrainer.Run(Options(data, dir.Combine("run"), 2));
        Assert.Contains("--resume", Assert.Throws<ArgumentException>(() => Pretrainer.Run(Options(data, dir.Combine("run"), 2))).Message);
        Assert.Contains("smaller than the data's vocabulary",
            Assert.Throws<ArgumentException>(() => Pretrainer.Run(Options(data, dir.Combine("other"), 2, "vocab_size=200"))).Message);
    }
}
