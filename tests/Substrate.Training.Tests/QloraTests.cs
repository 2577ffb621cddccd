using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Nn.Quantized;
using Substrate.Training.Finetuning;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

/// <summary>LoRA on a frozen quantized base (QLoRA): the base is 256 wide so every projection is whole q4_K blocks.</summary>
public class QloraTests
{
    private static FinetuneConfig Tiny(string quant) => new()
    {
        Method = "lora", BaseQuant = quant, LoraR = 4, LoraAlpha = 8, LoraDropout = 0.1, TargetModules = "all-linear", BatchSize = 4, SeqLen = 32,
        MaxSteps = 16, Lr = 1e-2, WarmupSteps = 2, EvalEvery = 8, CheckpointEvery = 6, Patience = 0, Dtype = ComputePrecision.Float32, ValFraction = 0.25,
    };

    [Theory]
    [InlineData("q4_K")]
    [InlineData("q8_0")]
    [InlineData("nf4")]
    public void LossFallsAndTheAdapterLoadsOnTheUnquantizedBase(string quant)
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"), hiddenSize: 256, intermediateSize: 512);
        var data = FinetuneTestModel.WriteData(tmp.Combine("data.jsonl"));
        var events = new List<TrainProgress>();
        var result = Finetuner.Run(new FinetuneOptions
        {
            ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("out"), Config = Tiny(quant), Threads = 1,
        }, new SyncProgress<TrainProgress>(events.Add));
        Assert.Equal(16, result.Step);
        Assert.Contains($"on a {quant} base", events.First(e => e.Event == TrainEvent.Started).Message);
        var steps = events.Where(e => e.Event == TrainEvent.Step).Select(e => e.Loss!.Value).ToList();
        Assert.True(steps[^4..].Average() < steps[0] * 0.9, $"loss {string.Join(" ", steps.Select(s => s.ToString("F2")))}");
        Assert.Contains("\"base_quant\": \"" + quant + "\"", File.ReadAllText(tmp.Combine("out", FinetuneConfig.FileName)));

        // The same PEFT folder a dense run writes: it loads on the unquantized base, and the tuned model answers close to the
        // quantized one it was trained on.
        using var dense = LoraModel.Load(baseDir);
        dense.LoadAdapter("x", tmp.Combine("out"));
        dense.Router.Default = new Nn.LoraSelection("x");
        using var quantized = LoraModel.Load(baseDir, baseQuantization: WeightQuantizations.Parse(quant));
        quantized.LoadAdapter("x", tmp.Combine("out"));
        quantized.Router.Default = new Nn.LoraSelection("x");
        dense.Model.eval();
        quantized.Model.eval();
        using var ids = tensor(new long[] { 1, 5, 9, 14, 20, 33 }).unsqueeze(0);
        using var a = dense.Model.call(ids);
        using var b = quantized.Model.call(ids);
        double gap = (a - b).abs().max().item<float>(), scale = a.abs().max().item<float>();
        Assert.True(gap < scale * (quant == "q8_0" ? 0.02 : 0.2), $"logits differ by {gap} (largest {scale})");
    }

    [Fact]
    public void GradientsReachOnlyTheAdapter()
    {
        manual_seed(2);
        var config = new ModelConfig
        {
            VocabSize = 40, HiddenSize = 256, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1, IntermediateSize = 256,
            MaxPositionEmbeddings = 16, TieWordEmbeddings = false,
        };
        using var lora = LoraModel.Create(config, baseQuantization: WeightQuantization.Nf4);
        lora.AddAdapter("a", new LoraAdapterConfig { R = 2, LoraAlpha = 4, LoraDropout = 0, TargetModules = ["all-linear"] }, seed: 1);
        lora.Router.Default = new Nn.LoraSelection("a");
        foreach (var (_, p) in lora.AdapterParameters("a")) p.requires_grad = true;
        Assert.All(lora.Layers.Values, l => Assert.IsType<QuantizedLinear>(l.BaseLayer));
        Assert.DoesNotContain(lora.Model.state_dict().Keys, k => k.EndsWith("_proj.weight", StringComparison.Ordinal)); // no dense projection
        using var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).unsqueeze(0);
        using var logits = lora.Model.call(ids);
        logits.square().mean().backward();
        Assert.All(lora.Model.parameters(), p => Assert.Null(p.grad));
        var grads = lora.AdapterParameters("a").Where(p => p.Name.EndsWith("lora_B.weight", StringComparison.Ordinal)).Select(p => p.Parameter.grad).ToList();
        Assert.All(grads, g => Assert.True(g is not null && g.abs().sum().item<float>() > 0)); // B starts at zero, so only B's gradient is nonzero
    }

    [Fact]
    public void AResumedQloraRunEndsWithTheSameAdapterAsAnUninterruptedOne()
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"), hiddenSize: 256, intermediateSize: 512);
        var data = FinetuneTestModel.WriteData(tmp.Combine("data.jsonl"));
        var config = Tiny("q4_K") with { MaxSteps = 8, EvalEvery = 0, CheckpointEvery = 4, ValFraction = 0 };
        Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("straight"), Config = config, Threads = 1 });
        using var stop = new CancellationTokenSource();
        Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("resumed"), Config = config, Threads = 1 },
            new SyncProgress<TrainProgress>(p => { if (p.Event == TrainEvent.Step && p.Step == 5) stop.Cancel(); }), stop.Token);
        var result = Finetuner.Run(new FinetuneOptions
        {
            ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("resumed"), Resume = true, Config = config with { BaseQuant = null }, Threads = 1,
        });
        Assert.Equal(8, result.Step);
        using var a = new SafetensorsReader(tmp.Combine("straight", LoraModel.AdapterWeightsFile));
        using var b = new SafetensorsReader(tmp.Combine("resumed", LoraModel.AdapterWeightsFile));
        foreach (var e in a.Entries)
        {
            using var x = a.Read(e.Name);
            using var y = b.Read(e.Name);
            Assert.True(x.eq(y).all().item<bool>(), e.Name); // the checkpoint's config (base_quant q4_K) rules on resume
        }
    }

    [Fact]
    public void ARunWithGradientCheckpointingEndsWithTheSameAdapter()
    {
        using var tmp = new TempDirectory();
        var baseDir = FinetuneTestModel.Write(tmp.Combine("base"), hiddenSize: 256, intermediateSize: 512);
        var data = FinetuneTestModel.WriteData(tmp.Combine("data.jsonl"));
        var config = Tiny("nf4") with { MaxSteps = 4, EvalEvery = 0, CheckpointEvery = 0, ValFraction = 0, Dtype = ComputePrecision.BFloat16 };
        Finetuner.Run(new FinetuneOptions { ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("plain"), Config = config, Threads = 1 });
        Finetuner.Run(new FinetuneOptions
        {
            ModelDirectory = baseDir, DataPath = data, OutputDirectory = tmp.Combine("checkpointed"), Threads = 1,
            Config = config.With(["gradient_checkpointing=true"]),
        });
        Assert.Contains("\"gradient_checkpointing\": true", File.ReadAllText(tmp.Combine("checkpointed", FinetuneConfig.FileName)));
        using var a = new SafetensorsReader(tmp.Combine("plain", LoraModel.AdapterWeightsFile));
        using var b = new SafetensorsReader(tmp.Combine("checkpointed", LoraModel.AdapterWeightsFile));
        foreach (var e in a.Entries)
        {
            using var x = a.Read(e.Name);
            using var y = b.Read(e.Name);
            Assert.True(x.eq(y).all().item<bool>(), e.Name); // the recompute replays dropout: four steps of AdamW agree bit for bit
        }
    }

    [Fact]
    public void ABaseQuantizationOnlyGoesWithLora()
    {
        var full = Assert.Throws<ArgumentException>(() => (Tiny("q4_K") with { Method = "full" }).Validate());
        Assert.Equal("config: base_quant q4_K needs method lora (a quantized base is frozen: it cannot be fully fine-tuned)", full.Message);
        var unknown = Assert.Throws<ArgumentException>(() => Tiny("q3_K").Validate());
        Assert.Equal("config: base_quant: unknown base quantization 'q3_K' (known: q8_0, q4_K, nf4)", unknown.Message);
        Assert.Equal("q4_K", Tiny("x").With(["base_quant=q4_K"]).BaseQuant);
    }
}
