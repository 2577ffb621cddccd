using System.Diagnostics;
using Substrate.Models;
using Substrate.Training;
using static TorchSharp.torch;

namespace Substrate.Cli.Tests;

/// <summary>A tokenizer and token shards made once for the MPI tests (a slice of the bundled corpus).</summary>
public sealed class MpiTestData : IDisposable
{
    public string Work { get; } = Directory.CreateTempSubdirectory("substrate-mpi-").FullName;
    public string Data => Path.Combine(Work, "data");

    public MpiTestData()
    {
        string corpus = Path.Combine(Work, "slice.jsonl.gz"), tok = Path.Combine(Work, "tok");
        File.Copy(Path.Combine(SubstrateProcess.CorpusFolder(), "validation.jsonl.gz"), corpus);
        Ok(SubstrateProcess.Run("tokenizer", "train", "--input", corpus, "--vocab-size", "512", "--out", tok));
        Ok(SubstrateProcess.Run("data", "prepare", "--input", corpus, "--tokenizer", tok, "--out", Data, "--validation-every", "10"));
    }

    public static SubstrateProcess.Result Ok(SubstrateProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout:\n{result.Stdout}\nstderr:\n{result.Stderr}");
        return result;
    }

    public void Dispose() => Directory.Delete(Work, recursive: true);
}

/// <summary>
/// Data-parallel pretraining under <c>mpirun -np 2</c> (one libtorch thread per rank): the same losses and weights as one process
/// with the whole batch, deterministic, resumable with another rank count, a killed rank ends the job, a configuration that
/// differs across ranks is an error on every rank, a hostfile works.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MpiPretrainTests(MpiTestData fixture) : IClassFixture<MpiTestData>
{
    const double Tolerance = 1e-5; // fp32: the mean of two half-batch gradients vs one whole-batch gradient

    string[] Pretrain(string name, int batchSize, int maxSteps, params string[] more) =>
        ["pretrain", "--config", "tiny", "--data", fixture.Data, "--out", Path.Combine(fixture.Work, name), "--max-steps", maxSteps.ToString(),
            "--threads", "1", .. more, "--set", "seq_len=64", "max_position_embeddings=64", "eval_every=3", "eval_batches=2", "checkpoint_every=3",
            "dtype=float32", "warmup_steps=2", $"batch_size={batchSize}"];

    static SubstrateProcess.Result Mpi(int ranks, string[] args, params string[] launcher) =>
        MpiTestData.Ok(MpiProcess.Run(MpiProcess.StartInfo(ranks, args, launcher)));

    List<MetricRecord> Metrics(string name) => MetricsLog.Read(Path.Combine(fixture.Work, name, MetricsLog.FileName));

    static void AssertClose(List<MetricRecord> expected, List<MetricRecord> actual, double tolerance)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Step, actual[i].Step);
            foreach (var (a, b) in new[] { (expected[i].Loss, actual[i].Loss), (expected[i].ValidationLoss, actual[i].ValidationLoss),
                (expected[i].GradNorm, actual[i].GradNorm) })
            {
                Assert.Equal(a is null, b is null);
                if (a is double x) Assert.True(Math.Abs(x - b!.Value) <= tolerance, $"line {i}: {x} vs {b} (step {expected[i].Step})");
            }
        }
    }

    /// <summary>The largest |difference| over every weight of two runs' model.safetensors.</summary>
    double WeightDifference(string a, string b)
    {
        using var scope = NewDisposeScope();
        using var x = new SafetensorsReader(Path.Combine(fixture.Work, a, ModelFolder.WeightsFile));
        using var y = new SafetensorsReader(Path.Combine(fixture.Work, b, ModelFolder.WeightsFile));
        Assert.Equal(x.Entries.Select(e => e.Name).Order(), y.Entries.Select(e => e.Name).Order());
        return x.Entries.Max(e => (x.Read(e.Name) - y.Read(e.Name)).abs().max().item<float>());
    }

    [SkippableFact]
    public void TwoRanksTrainLikeOneRankWithTheWholeBatchAndRepeatExactly()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        MpiTestData.Ok(SubstrateProcess.Run(Pretrain("one", batchSize: 4, maxSteps: 6)));
        var two = Mpi(2, Pretrain("two", batchSize: 2, maxSteps: 6));
        Assert.Contains("2 ranks × batch_size 2", two.Stderr + two.Stdout);
        AssertClose(Metrics("one"), Metrics("two"), Tolerance);
        Assert.True(WeightDifference("one", "two") <= Tolerance);
        Assert.Equal(6 * 4 * 64, Metrics("two").Last(m => m.TokensSeen is not null).TokensSeen); // the global batch's tokens

        Mpi(2, Pretrain("again", batchSize: 2, maxSteps: 6));
        AssertClose(Metrics("two"), Metrics("again"), 0); // deterministic for a fixed N: bit for bit
        Assert.Equal(0, WeightDifference("two", "again"));
    }

    [SkippableFact]
    public void ShardedOptimizerTrainsLikeTheUnshardedRunAndItsCheckpointsInterchange()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        // Three steps of ZeRO-1 over 2 ranks × 2 against one process × 4 …
        var sharded = Mpi(2, Pretrain("s", batchSize: 2, maxSteps: 3, "--shard-optimizer"));
        AssertHalfOfTheMomentsPerRank(sharded.Stderr + sharded.Stdout);
        MpiTestData.Ok(SubstrateProcess.Run(Pretrain("u", batchSize: 4, maxSteps: 3)));
        AssertClose(Metrics("u"), Metrics("s"), Tolerance);
        Assert.True(WeightDifference("u", "s") <= Tolerance);
        // … then each resumed the other way: the sharded checkpoint (whole moments) by one process, the unsharded one sharded.
        MpiTestData.Ok(SubstrateProcess.Run(Pretrain("s", batchSize: 4, maxSteps: 6, "--resume")));
        var resumed = Mpi(2, Pretrain("u", batchSize: 2, maxSteps: 6, "--resume", "--shard-optimizer"));
        AssertHalfOfTheMomentsPerRank(resumed.Stderr + resumed.Stdout);
        AssertClose(Metrics("u"), Metrics("s"), Tolerance);
        Assert.True(WeightDifference("u", "s") <= Tolerance);
    }

    /// <summary>ZeRO-1's point: each of the 2 ranks keeps half of the 2 moment floats per weight (⌈P/2⌉ weights at most), so the
    /// optimizer memory per rank cannot silently grow back to the whole.</summary>
    static void AssertHalfOfTheMomentsPerRank(string log)
    {
        var match = System.Text.RegularExpressions.Regex.Match(log, @"moment floats per rank (\d+) \+ (\d+) of (\d+) ");
        Assert.True(match.Success, log);
        long first = long.Parse(match.Groups[1].Value), second = long.Parse(match.Groups[2].Value), whole = long.Parse(match.Groups[3].Value);
        Assert.True(whole > 100_000, $"{whole} moment floats"); // the tiny model's 2 × P
        Assert.Equal(whole, first + second);
        Assert.InRange(first, whole / 2, whole / 2 + 2); // rank 0 owns ⌈P/2⌉ weights, rank 1 the rest
        Assert.Matches(@"peak RSS per rank \d+ / \d+ MB", log);
    }

    [SkippableFact]
    public void ResumeContinuesWithAnotherRankCount()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        // 1 × 4 for three steps, then 2 × 2 for three more; and the other way round: the same global batches, the same run.
        MpiTestData.Ok(SubstrateProcess.Run(Pretrain("a", batchSize: 4, maxSteps: 3)));
        Mpi(2, Pretrain("a", batchSize: 2, maxSteps: 6, "--resume"));
        Mpi(2, Pretrain("b", batchSize: 2, maxSteps: 3));
        MpiTestData.Ok(SubstrateProcess.Run(Pretrain("b", batchSize: 4, maxSteps: 6, "--resume")));
        AssertClose(Metrics("a"), Metrics("b"), Tolerance);
        Assert.True(WeightDifference("a", "b") <= Tolerance);
    }

    [SkippableFact]
    public void AKilledRankEndsTheJobWithAnError()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        using var job = Process.Start(MpiProcess.StartInfo(2, Pretrain("killed", batchSize: 2, maxSteps: 100_000)))!;
        var stderr = job.StandardError.ReadToEndAsync();
        var stdout = job.StandardOutput.ReadToEndAsync();
        var deadline = Stopwatch.StartNew();
        while (Metrics("killed").Count == 0 && !job.HasExited && deadline.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(200);
        Assert.False(job.HasExited, "the job ended before training");
        var ranks = MpiProcess.Children(job.Id).Where(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains("substrate.dll")).ToArray();
        if (ranks.Length != 2) job.Kill(entireProcessTree: true);
        Assert.Equal(2, ranks.Length);
        Process.GetProcessById(ranks[^1]).Kill(); // SIGKILL: no chance to say goodbye

        bool ended = job.WaitForExit(TimeSpan.FromSeconds(60));
        if (!ended) job.Kill(entireProcessTree: true);
        Assert.True(ended, "the job did not end within 60 s of a rank being killed (a hang)");
        Assert.NotEqual(0, job.ExitCode);
        Assert.Matches("exited on signal 9|killed", stderr.Result + stdout.Result);
        // No rank is left behind: mpirun has signalled the other one, which may take a moment to end on a loaded machine.
        var grace = Stopwatch.StartNew();
        while (ranks.Any(Alive) && grace.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(200);
        Assert.False(ranks.Any(Alive), "a rank outlived the job by 30 s");
    }

    static bool Alive(int pid)
    {
        try { return !File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].StartsWith('Z'); } // a zombie has ended
        catch (IOException) { return false; }
    }

    [SkippableFact]
    public void AConfigurationThatDiffersAcrossRanksIsOneErrorOnEveryRank()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        var result = MpiProcess.Run(MpiProcess.StartInfoPerRank(Pretrain("mismatch", 2, 3), Pretrain("mismatch", 2, 3, "--set", "lr=0.002")));
        Assert.NotEqual(0, result.ExitCode);
        string output = result.Stderr + result.Stdout;
        const string error = "error: mpirun: the configuration of rank 1 differs from rank 0's";
        Assert.True(output.Split('\n').Count(l => l.StartsWith(error)) == 2, output); // printed by both ranks
        Assert.False(File.Exists(Path.Combine(fixture.Work, "mismatch", MetricsLog.FileName)));
    }

    [SkippableFact]
    public void AHostfileRunsTheRanksWhereItSays()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        string hosts = Path.Combine(fixture.Work, "hosts");
        File.WriteAllText(hosts, "127.0.0.1 slots=2\n");
        var result = Mpi(2, Pretrain("hostfile", batchSize: 2, maxSteps: 2), "--hostfile", hosts);
        Assert.Contains("2 ranks × batch_size 2", result.Stderr + result.Stdout);
        Assert.Equal(2, Metrics("hostfile").Count(m => m.Loss is not null));
    }
}
