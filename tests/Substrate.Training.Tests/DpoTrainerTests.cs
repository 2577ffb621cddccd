using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Training.Alignment;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

public class DpoTrainerTests
{
    private static string Pairs(string path)
    {
        var lines = new List<string>();
        foreach (var q in new[] { "what colour is the sky?", "what sound does a cat make?", "the cat sat on the" })
            lines.Add($$"""{"prompt":"{{q}}","chosen":" blue.","rejected":" meow."}""");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("full")]
    public void PolicyLearnsToPreferTheChosenAnswer(string method)
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"));
        var reports = new List<DpoProgress>();
        var result = DpoTrainer.Run(new DpoOptions
        {
            ModelDirectory = baseDir, DataPath = Pairs(tmp.Combine("pairs.jsonl")), OutputDirectory = tmp.Combine("out"), Method = method,
            TargetModules = "all-linear", BatchSize = 3, MaxSteps = 15, Lr = method == "lora" ? 3e-2 : 3e-3, Beta = 0.5, MaxLength = 32, Threads = 1,
        }, new SyncProgress<DpoProgress>(reports.Add));
        Assert.Equal(Math.Log(2), reports[0].Loss, 3); // policy == reference at the start
        Assert.True(result.Loss < 0.5, $"loss {result.Loss:F3}");
        Assert.Equal(1.0, result.RewardAccuracy);
        Assert.True(result.RewardMargin > 0);
        Assert.True(File.Exists(tmp.Combine("out", "loss.png")));
        if (method == "lora")
        {
            using var lora = LoraModel.Load(baseDir);
            lora.LoadAdapter("dpo", tmp.Combine("out"));
            Assert.True(result.TrainableParameters < 20_000);
        }
        else using (ModelFolder.Load(tmp.Combine("out"))) { }
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("full")]
    public void AResumedRunContinuesExactlyAsTheUninterruptedOne(string method)
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"));
        var pairs = Pairs(tmp.Combine("pairs.jsonl"));
        DpoOptions Options(string dir) => new()
        {
            ModelDirectory = baseDir, DataPath = pairs, OutputDirectory = tmp.Combine(dir), Method = method, TargetModules = "all-linear",
            BatchSize = 2, MaxSteps = 8, Lr = method == "lora" ? 3e-2 : 3e-3, Beta = 0.5, MaxLength = 32, CheckpointEvery = 3, Threads = 1,
        };
        var whole = new List<DpoProgress>();
        DpoTrainer.Run(Options("whole"), new SyncProgress<DpoProgress>(whole.Add));

        // Interrupted after step 5 (its checkpoint: step 3, plus the one written on stopping), then resumed.
        using var cancel = new CancellationTokenSource();
        var first = new List<DpoProgress>();
        var stopped = DpoTrainer.Run(Options("split"), new SyncProgress<DpoProgress>(p => { first.Add(p); if (p.Step == 5) cancel.Cancel(); }), cancel.Token);
        Assert.Equal((5, "cancelled"), (stopped.Steps, stopped.StopReason));
        var rest = new List<DpoProgress>();
        var resumed = DpoTrainer.Run(Options("split") with { Resume = true }, new SyncProgress<DpoProgress>(rest.Add));
        Assert.Equal(8, resumed.Steps);
        Assert.Equal(whole.Select(p => p.Loss), first.Concat(rest).Select(p => p.Loss));
        Assert.Equal(whole[^1].RewardMargin, rest[^1].RewardMargin);
        Assert.Equal(8, MetricsLog.Read(tmp.Combine("split", "metrics.jsonl")).Count(r => r.Loss is not null));
        Assert.True(File.Exists(tmp.Combine("split", "loss.png")));
        string weights = method == "lora" ? "adapter_model.safetensors" : "model.safetensors";
        Assert.Equal(File.ReadAllBytes(tmp.Combine("whole", weights)), File.ReadAllBytes(tmp.Combine("split", weights)));

        // Resuming needs a checkpoint and the same settings; a finished run folder is not overwritten by accident.
        var none = Assert.Throws<ArgumentException>(() => DpoTrainer.Run(Options("empty") with { Resume = true }));
        Assert.Contains("no alignment checkpoint", none.Message);
        var changed = Assert.Throws<ArgumentException>(() => DpoTrainer.Run(Options("split") with { Resume = true, Beta = 0.2 }));
        Assert.Contains("beta: 0.5 → 0.2", changed.Message);
        Assert.Throws<ArgumentException>(() => DpoTrainer.Run(Options("whole")));
    }

    [Fact]
    public void BadPairsAreClearErrors()
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"));
        var path = tmp.Combine("bad.jsonl");
        File.WriteAllText(path, "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":\"a\",\"chosen\":\"b\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => DpoTrainer.Run(new DpoOptions { ModelDirectory = baseDir, DataPath = path, OutputDirectory = tmp.Combine("o") }));
        Assert.StartsWith($"{path}:2: expected a string \"rejected\"", e.Message);
        Assert.Throws<ArgumentException>(() => DpoTrainer.Run(new DpoOptions { ModelDirectory = baseDir, DataPath = path, OutputDirectory = tmp.Combine("o"), Beta = 0 }));
    }
}
