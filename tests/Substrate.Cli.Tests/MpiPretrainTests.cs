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
        baseModel = new(() =>
        {
            string model = Path.Combine(Work, "base");
            Ok(SubstrateProcess.Run("pretrain", "--config", "tiny", "--data", Data, "--out", model, "--max-steps", "2", "--threads", "1",
                "--set", "batch_size=2", "seq_len=64", "max_position_embeddings=128", "dtype=float32"));
            return model;
        });
    }

    readonly Lazy<string> baseModel;

    /// <summary>A tiny fp32 base pretrained for 2 steps on the shards (the fine-tuning and DPO tests' model), made on first use.</summary>
    public string BaseModel => baseModel.Value;

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

    static void AssertClose(List<MetricRecord> expected, List<MetricRecord> actual, double tolerance) => MpiAssert.Close(expected, actual, tolerance);

    /// <summary>The largest |difference| over every weight of two runs' model.safetensors.</summary>
    double WeightDifference(string a, string b) =>
        MpiAssert.WeightDifference(Path.Combine(fixture.Work, a, ModelFolder.WeightsFile), Path.Combine(fixture.Work, b, ModelFolder.WeightsFile));

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

    static void AssertHalfOfTheMomentsPerRank(string log) => MpiAssert.HalfOfTheMomentsPerRank(log, atLeast: 100_000); // the tiny model's 2 × P

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
        MpiProcess.KillARankOnceReady(MpiProcess.StartInfo(2, Pretrain("killed", batchSize: 2, maxSteps: 100_000)), () => Metrics("killed").Count > 0);
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
