namespace Substrate.Training.Tests;

public class RunCheckpointTests
{
    [Fact]
    public void AKillDuringTheSwapLeavesTheOldCheckpointFindable()
    {
        using var dir = new TempDirectory();
        var data = TestData.Prepare(dir.Path);
        var run = dir.Combine("run");
        Pretrainer.Run(new PretrainOptions
        {
            DataDirectory = data, OutputDirectory = run, Overrides = [.. TestData.TinyRun, "eval_every=0"], MaxSteps = 3, Threads = 1, PeakFlops = 1e11,
        });
        // The moment between "checkpoint → checkpoint.old" and "checkpoint.tmp → checkpoint".
        Directory.Move(Path.Combine(run, "checkpoint"), Path.Combine(run, "checkpoint.old"));
        Directory.CreateDirectory(Path.Combine(run, "checkpoint.tmp")); // half-written, no trainer_state.json
        Assert.Equal(Path.Combine(run, "checkpoint.old"), RunCheckpoint.Find(run));

        var resumed = Pretrainer.Run(new PretrainOptions
        {
            DataDirectory = data, OutputDirectory = run, Overrides = [.. TestData.TinyRun, "eval_every=0"], MaxSteps = 5, Threads = 1, PeakFlops = 1e11, Resume = true,
        });
        Assert.Equal(2, resumed.Losses.Count); // steps 4 and 5
        Assert.Equal(Path.Combine(run, "checkpoint"), RunCheckpoint.Find(run));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoint.old")));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoint.tmp")));
    }

    [Fact]
    public void MetricsLogSkipsATornLastLineAndKeepsRecordsThroughTheCheckpoint()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine(MetricsLog.FileName), "{\"step\":1,\"loss\":5}\n{\"step\":2,\"val_loss\":4}\n{\"step\":3,\"loss\":4.5}\n{\"step\":4,\"lo");
        Assert.Equal(3, MetricsLog.Read(dir.Combine(MetricsLog.FileName)).Count);
        using (var log = new MetricsLog(dir.Path, keepThroughStep: 2)) log.Append(new MetricRecord { Step = 3, Loss = 4.25 });
        var records = MetricsLog.Read(dir.Combine(MetricsLog.FileName));
        Assert.Equal([1, 2, 3], records.Select(r => r.Step));
        Assert.Equal(4.25, records[^1].Loss);
    }
}
