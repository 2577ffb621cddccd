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
