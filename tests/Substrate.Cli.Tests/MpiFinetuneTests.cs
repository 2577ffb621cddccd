using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Training;

namespace Substrate.Cli.Tests;

/// <summary>
/// Data-parallel fine-tuning and DPO under <c>mpirun -np 2</c> (one libtorch thread per rank, fp32, a tiny base): 2 ranks × batch 2,
/// with the AdamW moments sharded or not, give the losses and the final weights of 1 process × batch 4; a killed rank ends a
/// fine-tuning job, and the sharded checkpoint it left resumes under another rank count to the uninterrupted run's result.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MpiFinetuneTests(MpiTestData fixture) : IClassFixture<MpiTestData>
{
    const double Tolerance = 1e-5; // fp32: the mean of two half-batch gradients vs one whole-batch gradient

    static string Corpus => Path.GetDirectoryName(SubstrateProcess.CorpusFolder())!;

    string Run(string name) => Path.Combine(fixture.Work, name);

    /// <summary>LoRA (dropout 0: its masks are drawn per batch, not per row) or full fine-tuning with batch_size = <paramref name="batch"/>.</summary>
    string[] Finetune(string name, string method, int batch, int maxSteps, params string[] more) =>
        ["finetune", "--method", method, "--model", fixture.BaseModel, "--data", Path.Combine(Corpus, "instructions", "validation.jsonl.gz"),
            "--out", Run(name), "--max-steps", maxSteps.ToString(), "--threads", "1", "--dropout", "0", "--lr", "1e-3", .. more,
            "--set", $"batch_size={batch}", "seq_len=64", "dtype=float32", "warmup_steps=1", "eval_every=2", "patience=0", "checkpoint_every=2"];

    string[] Dpo(string name, int batch, params string[] more) =>
        ["align", "dpo", "--method", "full", "--model", fixture.BaseModel, "--data", Path.Combine(Corpus, "preferences", "train.jsonl.gz"),
            "--out", Run(name), "--max-steps", "2", "--batch-size", batch.ToString(), "--max-length", "64", "--threads", "1", .. more,
            "--set", "warmup_steps=1"];

    static SubstrateProcess.Result One(string[] args) => MpiTestData.Ok(SubstrateProcess.Run(args));

    static SubstrateProcess.Result Two(string[] args) => MpiTestData.Ok(MpiProcess.Run(MpiProcess.StartInfo(2, args)));

    List<MetricRecord> Metrics(string name) => MetricsLog.Read(Path.Combine(Run(name), MetricsLog.FileName));

    /// <summary>The runs' last checkpoint weights (the adapter, or the whole model) differ by at most the tolerance.</summary>
    void AssertSameWeights(string expected, string actual, string file)
    {
        double difference = MpiAssert.WeightDifference(Path.Combine(Run(expected), CheckpointFolder.DirectoryName, file),
            Path.Combine(Run(actual), CheckpointFolder.DirectoryName, file));
        Assert.True(difference <= Tolerance, $"weights of {actual} differ from {expected}'s by {difference}");
    }

    [SkippableFact]
    public void LoraOnTwoRanksShardedOrNotTrainsLikeOneRankWithTheWholeBatch()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        One(Finetune("lora-1x4", "lora", batch: 4, maxSteps: 3));
        var plain = Two(Finetune("lora-2x2", "lora", batch: 2, maxSteps: 3));
        Assert.Contains("2 ranks × batch_size 2", plain.Stderr + plain.Stdout);
        var sharded = Two(Finetune("lora-2x2-sharded", "lora", batch: 2, maxSteps: 3, "--shard-optimizer"));
        string log = sharded.Stderr + sharded.Stdout;
        MpiAssert.HalfOfTheMomentsPerRank(log, atLeast: 1_000);
        // Only the trained parameters' moments exist, and split: the whole is 2 × the adapter's weights, not the model's.
        var trainable = System.Text.RegularExpressions.Regex.Match(log, @"([\d,]+) trainable of ([\d,]+) parameters");
        Assert.True(trainable.Success, log);
        Assert.Contains($"of {2 * long.Parse(trainable.Groups[1].Value.Replace(",", ""))} ", log);
        Assert.True(long.Parse(trainable.Groups[1].Value.Replace(",", "")) * 10 < long.Parse(trainable.Groups[2].Value.Replace(",", "")), log);
        foreach (var run in new[] { "lora-2x2", "lora-2x2-sharded" })
        {
            MpiAssert.Close(Metrics("lora-1x4"), Metrics(run), Tolerance);
            AssertSameWeights("lora-1x4", run, LoraModel.AdapterWeightsFile);
        }
        Assert.Contains(Metrics("lora-1x4"), m => m.ValidationLoss is not null);
    }

    [SkippableFact]
    public void FullFinetuneShardedOverTwoRanksTrainsLikeOneRank()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        One(Finetune("full-1x4", "full", batch: 4, maxSteps: 2));
        var sharded = Two(Finetune("full-2x2-sharded", "full", batch: 2, maxSteps: 2, "--shard-optimizer"));
        MpiAssert.HalfOfTheMomentsPerRank(sharded.Stderr + sharded.Stdout, atLeast: 100_000); // every weight of the tiny model
        MpiAssert.Close(Metrics("full-1x4"), Metrics("full-2x2-sharded"), Tolerance);
        AssertSameWeights("full-1x4", "full-2x2-sharded", ModelFolder.WeightsFile);
    }

    [SkippableFact]
    public void DpoOnTwoRanksShardedOrNotAlignsLikeOneRankWithTheWholeBatch()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        One(Dpo("dpo-1x4", batch: 4));
        var plain = Two(Dpo("dpo-2x2", batch: 2));
        Assert.Contains("2 ranks × batch_size 2", plain.Stderr + plain.Stdout);
        var sharded = Two(Dpo("dpo-2x2-sharded", batch: 2, "--shard-optimizer"));
        MpiAssert.HalfOfTheMomentsPerRank(sharded.Stderr + sharded.Stdout, atLeast: 100_000);
        foreach (var run in new[] { "dpo-2x2", "dpo-2x2-sharded" })
        {
            MpiAssert.Close(Metrics("dpo-1x4"), Metrics(run), Tolerance);
            AssertSameWeights("dpo-1x4", run, ModelFolder.WeightsFile);
        }
    }

    [SkippableFact]
    public void AKilledRankEndsAFinetuneAndItsShardedCheckpointResumesOnOneRankToTheSameResult()
    {
        Skip.If(MpiProcess.Missing is not null, MpiProcess.Missing);
        const int steps = 40; // long enough for the kill to land mid-run, after the first checkpoint (step 2)
        string state = Path.Combine(Run("killed"), CheckpointFolder.DirectoryName, "finetune_state.json");
        MpiProcess.KillARankOnceReady(MpiProcess.StartInfo(2, Finetune("killed", "lora", batch: 2, maxSteps: steps, "--shard-optimizer")),
            () => File.Exists(state));
        // Resumed by one process × 4 (another rank count, unsharded): the checkpoint holds the whole moments.
        One(Finetune("killed", "lora", batch: 4, maxSteps: steps, "--resume"));
        One(Finetune("whole", "lora", batch: 4, maxSteps: steps));
        MpiAssert.Close(Metrics("whole"), Metrics("killed"), Tolerance);
        AssertSameWeights("whole", "killed", LoraModel.AdapterWeightsFile);
    }
}
