using System.Text.Json.Nodes;
using Substrate.Models.Lora;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Models.Tests.Lora;

public class LoraModelTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("substrate-lora-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string SaveBase(ModelConfig? config = null, string name = "base")
    {
        var path = Path.Combine(dir, name);
        using var model = TinyModels.Create(config ?? TinyModels.Config);
        ModelFolder.Save(model, path);
        return path;
    }

    /// <summary>An adapter on <paramref name="baseDir"/> with random non-zero B, saved as a PEFT folder.</summary>
    private string SaveAdapter(string baseDir, LoraAdapterConfig config, string name = "adapter")
    {
        var path = Path.Combine(dir, name);
        using var lora = LoraModel.Load(baseDir);
        lora.AddAdapter("x", config, seed: 3);
        manual_seed(5);
        using (no_grad())
            foreach (var (key, p) in lora.AdapterParameters("x"))
                if (key.Contains("lora_B")) p.normal_(0, 0.3);
        lora.SaveAdapter("x", path);
        return path;
    }

    private static Tensor Ids() => tensor(new long[] { 1, 5, 9, 2, 7, 3 }, [1, 6]);

    [Fact]
    public void BaseStaysFrozenAndOnlyTheAdapterIsTrainable()
    {
        using var lora = LoraModel.Load(SaveBase());
        lora.AddAdapter("x", new LoraAdapterConfig { R = 4, TargetModules = ["q_proj", "v_proj"] });
        Assert.All(lora.Model.parameters(), p => Assert.False(p.requires_grad));
        var adapter = lora.AdapterParameters("x").ToList();
        var c = lora.Model.Config;
        Assert.Equal(c.NumHiddenLayers * 2 * 2, adapter.Count);
        Assert.All(adapter, p => Assert.True(p.Parameter.requires_grad));
        Assert.Contains(adapter, p => p.Name == "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
        long expected = c.NumHiddenLayers * (4 * c.HiddenSize + c.NumAttentionHeads * c.HeadDim * 4 + 4 * c.HiddenSize + c.NumKeyValueHeads * c.HeadDim * 4);
        Assert.Equal(expected, lora.AdapterParameterCount("x"));
        // The state dict is the base's: LoRA leaves the HF keys alone.
        Assert.DoesNotContain(lora.Model.state_dict().Keys, k => k.Contains("lora") || k.Contains("base"));
    }

    [Fact]
    public void AFreshAdapterIsTheBaseAndTheSavedFolderHasPeftKeysAndShapes()
    {
        var baseDir = SaveBase();
        using var plain = ModelFolder.Load(baseDir);
        using var expected = plain.forward(Ids());
        using var lora = LoraModel.Load(baseDir);
        lora.AddAdapter("x", new LoraAdapterConfig { R = 4, LoraAlpha = 8, TargetModules = [LoraAdapterConfig.AllLinear] });
        lora.Router.Default = new LoraSelection("x");
        using var fresh = lora.Model.forward(Ids());
        Assert.True(fresh.allclose(expected, 1e-6, 1e-6)); // B = 0

        var adapterDir = Path.Combine(dir, "fresh");
        lora.SaveAdapter("x", adapterDir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(adapterDir, "adapter_config.json")))!;
        Assert.Equal("LORA", (string?)json["peft_type"]);
        Assert.Equal("CAUSAL_LM", (string?)json["task_type"]);
        Assert.Equal(4, (int)json["r"]!);
        Assert.Equal(8.0, (double)json["lora_alpha"]!);
        Assert.Equal("none", (string?)json["bias"]);
        Assert.Equal(baseDir, (string?)json["base_model_name_or_path"]);
        Assert.Equal("all-linear", (string?)json["target_modules"]![0]);
        using var reader = new SafetensorsReader(Path.Combine(adapterDir, "adapter_model.safetensors"));
        var c = plain.Config;
        Assert.Equal([4L, c.HiddenSize], reader.Entry("base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight").Shape);
        Assert.Equal([(long)c.IntermediateSize, 4L], reader.Entry("base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight").Shape);
        Assert.Equal(c.NumHiddenLayers * 7 * 2, reader.Entries.Count);
    }

    [Fact]
    public void MergedModelEqualsBasePlusAdapter()
    {
        var baseDir = SaveBase();
        var adapterDir = SaveAdapter(baseDir, new LoraAdapterConfig { R = 2, LoraAlpha = 4, TargetModules = ["q_proj", "v_proj", "down_proj"] });
        using var lora = LoraModel.Load(baseDir);
        lora.LoadAdapter("x", adapterDir);
        lora.Router.Default = new LoraSelection("x");
        using var withAdapter = lora.Model.forward(Ids());
        using var plain = ModelFolder.Load(baseDir);
        using var baseLogits = plain.forward(Ids());
        Assert.False(withAdapter.allclose(baseLogits, 1e-3, 1e-3));

        lora.Merge("x");
        var merged = Path.Combine(dir, "merged");
        ModelFolder.Save(lora.Model, merged);
        using var reloaded = ModelFolder.Load(merged);
        using var mergedLogits = reloaded.forward(Ids());
        Assert.True(mergedLogits.allclose(withAdapter, 1e-4, 1e-4), $"max diff {(mergedLogits - withAdapter).abs().max().item<float>()}");
    }

    /// <summary>Qwen2's q/k/v biases and Qwen3's q/k norms stay in the frozen base (PEFT's bias = "none"): the state dict is
    /// the family's layout, the adapter holds only lora_A/lora_B, and merging gives what base + adapter gave.</summary>
    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("gemma3_text")] // and Gemma 3's four norms a layer, q/k norms, GeGLU, a window of 4
    [InlineData("phi3")]        // adapters on the fused qkv_proj and gate_up_proj, as PEFT targets them
    public void AFamilyBaseKeepsItsBiasesAndNormsTakesAnAdapterAndMerges(string modelType)
    {
        var config = ModelFamily.Find(modelType).Apply(TinyModels.Config with { HeadDimOverride = 8, SlidingWindowSize = 4 });
        var baseDir = Path.Combine(dir, modelType);
        using (var model = TinyModels.Create(config))
        {
            using (no_grad()) foreach (var (_, p) in model.named_parameters()) if (p.dim() == 1) p.add_(randn_like(p) * 0.3);
            ModelFolder.Save(model, baseDir);
        }
        var adapter = new LoraAdapterConfig { R = 2, LoraAlpha = 4, TargetModules = [LoraAdapterConfig.AllLinear] };
        var adapterDir = SaveAdapter(baseDir, adapter, modelType + "-adapter");
        using (var reader = new SafetensorsReader(Path.Combine(adapterDir, "adapter_model.safetensors")))
            Assert.All(reader.Entries, e => Assert.Contains(".lora_", e.Name));
        using var lora = LoraModel.Load(baseDir);
        Assert.Equal(ModelLayout.Parameters(config).Select(p => p.Name), lora.Model.state_dict().Keys);
        lora.LoadAdapter("x", adapterDir);
        lora.Router.Default = new LoraSelection("x");
        using var withAdapter = lora.Model.forward(Ids());
        lora.Merge("x");
        var merged = Path.Combine(dir, modelType + "-merged");
        ModelFolder.Save(lora.Model, merged);
        using var reloaded = ModelFolder.Load(merged);
        using var mergedLogits = reloaded.forward(Ids());
        Assert.True(mergedLogits.allclose(withAdapter, 1e-4, 1e-4), $"max diff {(mergedLogits - withAdapter).abs().max().item<float>()}");
    }

    [Fact]
    public void AnAdapterForAnotherBaseIsAClearError()
    {
        var small = SaveBase();
        var wide = SaveBase(TinyModels.Config with { HiddenSize = 48, NumAttentionHeads = 4, NumKeyValueHeads = 2 }, "wide");
        var adapterDir = SaveAdapter(wide, new LoraAdapterConfig { R = 2 });
        using var lora = LoraModel.Load(small);
        var e = Assert.Throws<InvalidDataException>(() => lora.LoadAdapter("x", adapterDir));
        Assert.Contains("another base", e.Message);
        Assert.Contains("shape", e.Message);
        Assert.Empty(lora.Adapters);

        var deep = SaveBase(TinyModels.Config with { NumHiddenLayers = 3 }, "deep");
        var deepAdapter = SaveAdapter(deep, new LoraAdapterConfig { R = 2 }, "deep-adapter");
        var e2 = Assert.Throws<InvalidDataException>(() => lora.LoadAdapter("x", deepAdapter));
        Assert.Contains("model.layers.2", e2.Message);
    }

    [Fact]
    public void RankZeroAndUnknownTargetsAreClearErrors()
    {
        var baseDir = SaveBase();
        using var lora = LoraModel.Load(baseDir);
        var e = Assert.Throws<ArgumentException>(() => lora.AddAdapter("x", new LoraAdapterConfig { R = 0 }));
        Assert.Contains("rank", e.Message);
        Assert.Throws<ArgumentException>(() => lora.AddAdapter("x", new LoraAdapterConfig { TargetModules = ["c_attn"] }));

        var adapterDir = SaveAdapter(baseDir, new LoraAdapterConfig { R = 2 });
        var configPath = Path.Combine(adapterDir, "adapter_config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"r\": 2", "\"r\": 0"));
        var e2 = Assert.Throws<InvalidDataException>(() => lora.LoadAdapter("x", adapterDir));
        Assert.Contains("rank r must be positive", e2.Message);
    }
}

public class LoraBf16BaseTests
{
    [Fact]
    public void ABf16FrozenBaseGivesNearlyTheFp32OutputsAndTheAdapterStillTrains()
    {
        var dir = TinyModels.Dir();
        using (var model = TinyModels.Create()) ModelFolder.Save(model, dir);
        var config = new LoraAdapterConfig { R = 4, LoraAlpha = 8, TargetModules = [LoraAdapterConfig.AllLinear] };
        using var fp32 = LoraModel.Load(dir);
        using var bf16 = LoraModel.Load(dir, new ModelOptions { WeightDtype = ScalarType.BFloat16, ComputeDtype = ScalarType.BFloat16 });
        foreach (var lora in new[] { fp32, bf16 })
        {
            lora.AddAdapter("x", config, seed: 1);
            lora.Router.Default = new LoraSelection("x");
            using (no_grad()) foreach (var (key, p) in lora.AdapterParameters("x")) if (key.Contains("lora_B")) p.fill_(0.05);
        }
        Assert.All(bf16.Model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.All(bf16.AdapterParameters("x"), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        using var ids = TinyModels.Ids();
        using var a = fp32.Model.forward(ids);
        using var b = bf16.Model.forward(ids);
        Assert.True((a - b).abs().max().item<float>() < 0.05);
        b.sum().backward();
        Assert.All(bf16.AdapterParameters("x"), p => Assert.NotNull(p.Parameter.grad));
        Assert.All(bf16.Model.parameters(), p => Assert.Null(p.grad));
    }
}
