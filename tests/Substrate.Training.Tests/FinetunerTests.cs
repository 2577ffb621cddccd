using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Training.Finetuning;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

public class FinetunerTests
{
    private static FinetuneConfig Tiny(string method) => new()
    {
        Method = method, LoraR = 4, LoraAlpha = 8, LoraDropout = 0.1, TargetModules = "all-linear", BatchSize = 4, SeqLen = 32,
        MaxSteps = 24, Lr = method == "lora" ? 3e-2 : 1e-2, WarmupSteps = 2, EvalEvery = 4, CheckpointEvery = 6, Patience = 0,
        Dtype = ComputePrecision.Float32, ValFraction = 0.25,
    };

    [Theory]
    [InlineData("lora", "llama")]
    [InlineData("full", "llama")]
    [InlineData("lora", "qwen2")]
    [InlineData("full", "qwen3")]
    [InlineData("lora", "mistral")]
    [InlineData("lora", "gemma3_text")]
    [InlineData("full", "phi3")]
    public void LossFallsAndTheRunFolderHoldsTheResult(string method, string modelType)
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"), modelType);
        var data = FinetuneTestModel.WriteData(tmp.Combine("data.jsonl"));
        var events = new List<TrainProgress>();
        var result = Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("out"), Config = Tiny(method), Threads = 1 },
            new SyncProgress<TrainProgress>(events.Add));
        Assert.Equal(24, result.Step);
        var steps = events.Where(e => e.Event == TrainEvent.Step).Select(e => e.Loss!.Value).ToList();
        // LoRA on this 32-wide base learns slowly (~5.7 → ~5.2 in 24 steps); packed examples no longer see each other, so
        // copying the identical example before it in the row is not a shortcut any more.
        Assert.True(steps[^4..].Average() < steps[0] * (method == "lora" ? 0.95 : 0.8), $"loss {string.Join(" ", steps.Select(s => s.ToString("F2")))}");
        Assert.True(File.Exists(tmp.Combine("out", "metrics.jsonl")));
        Assert.True(File.Exists(tmp.Combine("out", "loss.png")));
        if (method == "lora")
        {
            Assert.True(result.TrainableParameters < result.TotalParameters / 5);
            Assert.True(File.Exists(tmp.Combine("out", "adapter_config.json")));
            using var lora = LoraModel.Load(baseDir);
            lora.LoadAdapter("x", tmp.Combine("out")); // the run folder is a PEFT adapter for this base
        }
        else
        {
            using var tuned = ModelFolder.Load(tmp.Combine("out"));
            Assert.True(File.Exists(tmp.Combine("out", "tokenizer.json")));
        }
    }

    [Fact]
    public void AResumedLoraRunEndsWithTheSameAdapterAsAnUninterruptedOne()
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"));
        var data = FinetuneTestModel.WriteData(tmp.Combine("data.jsonl"));
        var config = Tiny("lora") with { MaxSteps = 12, EvalEvery = 0, CheckpointEvery = 6, ValFraction = 0 };
        Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("straight"), Config = config, Threads = 1 });
        using var stop = new CancellationTokenSource();
        var first = Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("resumed"), Config = config, Threads = 1 },
            new SyncProgress<TrainProgress>(p => { if (p.Event == TrainEvent.Step && p.Step == 7) stop.Cancel(); }), stop.Token);
        Assert.Equal("cancelled", first.StopReason);
        Assert.Equal(7, first.Step);
        var result = Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("resumed"), Resume = true, Config = config, Threads = 1 });
        Assert.Equal(12, result.Step);
        using var a = new SafetensorsReader(tmp.Combine("straight", LoraModel.AdapterWeightsFile));
        using var b = new SafetensorsReader(tmp.Combine("resumed", LoraModel.AdapterWeightsFile));
        foreach (var e in a.Entries)
        {
            using var x = a.Read(e.Name);
            using var y = b.Read(e.Name);
            Assert.True(x.eq(y).all().item<bool>(), e.Name);
        }
    }

    [Fact]
    public void BadDataIsOneClearError()
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"));
        var data = tmp.Combine("bad.jsonl");
        File.WriteAllText(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n");
        var e = Assert.Throws<InvalidDataException>(() =>
            Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("out"), Config = Tiny("lora") }));
        Assert.Equal($"{data}:2: the chat has no assistant turn to learn from", e.Message);
        Assert.Throws<ArgumentException>(() => Tiny("lora").With(["lora_r=x"]));
        Assert.Throws<ArgumentException>(() => Tiny("lora").With(["nope=1"]));
    }

    [Fact]
    public void ExamplesWhosePromptsOutgrowSeqLenAreNamedAsTheCause()
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"));
        var data = tmp.Combine("long.jsonl");
        var prompt = string.Join(" ", Enumerable.Repeat("a long prompt", 40));
        File.WriteAllText(data, $"{{\"prompt\":\"{prompt}\",\"completion\":\"b\"}}\n{{\"prompt\":\"{prompt}.\",\"completion\":\"c\"}}\n");
        var e = Assert.Throws<InvalidDataException>(() => Finetuner.Run(new FinetuneOptions
        {
            ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("out"), Config = Tiny("full") with { ValFraction = 0 },
        }));
        Assert.Contains("all 2 examples end past seq_len=32 before their first target token", e.Message);
    }
}
