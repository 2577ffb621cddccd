using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

public class ModelFolderTests
{
    [Fact]
    public void SaveThenLoadGivesIdenticalLogits()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create(TinyModels.Config with { EosTokenId = 2 });
        ModelFolder.Save(model, dir);
        Assert.Equal(
            [ModelFolder.ConfigFile, ModelFolder.GenerationConfigFile, ModelFolder.WeightsFile],
            Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        Assert.Equal("LlamaForCausalLM", (string)config["architectures"]![0]!);
        Assert.Equal("llama", (string)config["model_type"]!);
        Assert.Equal("float32", (string)config["torch_dtype"]!);
        Assert.Equal(32, (int)config["hidden_size"]!);
        var generation = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "generation_config.json")))!;
        Assert.Equal(2, (int)generation["eos_token_id"]!);
        Assert.False((bool)generation["do_sample"]!); // greedy, as transformers reads a file without sampling keys

        using var loaded = ModelFolder.Load(dir);
        Assert.Equal(model.Config with { TorchDtype = "float32" }, loaded.Config); // value equality, lists by content
        using var ids = TinyModels.Ids();
        using var a = model.call(ids);
        using var b = loaded.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }

    [Fact]
    public void SafetensorsHoldTheHuggingFaceNamesAndNoLmHeadWhenTied()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create();
        ModelFolder.Save(model, dir, ScalarType.BFloat16);
        using var reader = new SafetensorsReader(Path.Combine(dir, ModelFolder.WeightsFile));
        Assert.DoesNotContain(reader.Entries, e => e.Name == "lm_head.weight");
        Assert.Equal(model.state_dict().Keys.Order(), reader.Entries.Select(e => e.Name).Order());
        Assert.All(reader.Entries, e => Assert.Equal("BF16", e.Dtype));
        Assert.Equal("pt", reader.Metadata["format"]);
        Assert.Equal(new long[] { 16, 32 }, reader.Entry("model.layers.1.self_attn.k_proj.weight").Shape);
    }

    [Fact]
    public void BFloat16FolderLoadsCloseToTheOriginal()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create();
        ModelFolder.Save(model, dir, ScalarType.BFloat16);
        Assert.Equal("bfloat16", ModelFolder.ReadConfig(dir).TorchDtype);
        using var loaded = ModelFolder.Load(dir);
        Assert.All(loaded.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        using var ids = TinyModels.Ids();
        using var a = model.call(ids);
        using var b = loaded.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 5e-3), $"max diff {(a - b).abs().max().item<float>()}");
    }

    [Fact]
    public void LoadsIntoBFloat16WeightsForInference()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create();
        ModelFolder.Save(model, dir);
        var rng = get_rng_state();
        using var loaded = ModelFolder.Load(dir, new ModelOptions { ComputeDtype = ScalarType.BFloat16, WeightDtype = ScalarType.BFloat16 });
        Assert.True(get_rng_state().eq(rng).all().item<bool>()); // loading leaves the global generator alone
        Assert.All(loaded.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var ids = TinyModels.Ids();
        using var a = model.call(ids);
        using var b = loaded.call(ids);
        Assert.True((a - b).abs().max().item<float>() < 0.02);
    }

    [Fact]
    public void UntiedFolderRoundTripsWithLmHead()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create(TinyModels.Config with { TieWordEmbeddings = false });
        ModelFolder.Save(model, dir);
        using (var reader = new SafetensorsReader(Path.Combine(dir, ModelFolder.WeightsFile)))
            Assert.Equal(new long[] { 64, 32 }, reader.Entry("lm_head.weight").Shape);
        using var loaded = ModelFolder.Load(dir);
        using var ids = TinyModels.Ids();
        using var a = model.call(ids);
        using var b = loaded.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }

    [Fact]
    public void ShardedFolderWithRotaryBuffersLoads()
    {
        // A Hub-style folder: two shards, an index, and the inv_freq buffers old transformers saved.
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create();
        var state = model.state_dict().ToList();
        var first = state.Take(5).ToList();
        using var invFreq = ones(4);
        var second = state.Skip(5).Append(KeyValuePair.Create("model.layers.0.self_attn.rotary_emb.inv_freq", invFreq)).ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), first);
        SafetensorsWriter.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), second);
        var map = new JsonObject();
        foreach (var (name, _) in first) map[name] = "model-00001-of-00002.safetensors";
        foreach (var (name, _) in second) map[name] = "model-00002-of-00002.safetensors";
        File.WriteAllText(Path.Combine(dir, ModelFolder.WeightsIndexFile), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        File.WriteAllText(Path.Combine(dir, ModelFolder.ConfigFile), System.Text.Json.JsonSerializer.Serialize(model.Config));

        using var loaded = ModelFolder.Load(dir);
        using var ids = TinyModels.Ids();
        using var a = model.call(ids);
        using var b = loaded.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }

    [Fact]
    public void MissingOrMisshapenTensorIsNamed()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create();
        ModelFolder.Save(model, dir);
        var weights = Path.Combine(dir, ModelFolder.WeightsFile);
        var state = model.state_dict();

        SafetensorsWriter.Write(weights, state.Where(kv => kv.Key != "model.norm.weight"));
        var missing = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains("'model.norm.weight'", missing.Message);

        using var wrong = zeros(31);
        SafetensorsWriter.Write(weights, state.Select(kv => kv.Key == "model.norm.weight" ? KeyValuePair.Create(kv.Key, wrong) : kv));
        var misshapen = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains("'model.norm.weight' has shape [31]", misshapen.Message);

        using var extra = zeros(3);
        SafetensorsWriter.Write(weights, state.Append(KeyValuePair.Create("model.layers.9.mlp.up_proj.weight", extra)));
        Assert.Contains("model.layers.9.mlp.up_proj.weight", Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir)).Message);
    }

    [Fact]
    public void BadConfigIsRejectedWithTheFileName()
    {
        var dir = TinyModels.Dir();
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"hidden_size": 30, "num_attention_heads": 4}""");
        var ex = Assert.Throws<InvalidDataException>(() => ModelFolder.ReadConfig(dir));
        Assert.Contains("config.json", ex.Message);
        File.WriteAllText(Path.Combine(dir, "config.json"), "{not json");
        Assert.Throws<InvalidDataException>(() => ModelFolder.ReadConfig(dir));
    }

    [Fact]
    public void HubConfigWithEosListAndExtraKeysReads()
    {
        var dir = TinyModels.Dir();
        File.WriteAllText(Path.Combine(dir, "config.json"), """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "num_attention_heads": 4,
             "num_key_value_heads": 2, "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 64,
             "bos_token_id": 1, "eos_token_id": [2, 7], "transformers_version": "4.45.0", "use_cache": true,
             "torch_dtype": "bfloat16", "rope_scaling": null, "pretraining_tp": 1}
            """);
        var config = ModelFolder.ReadConfig(dir);
        Assert.Equal((1, 2, "bfloat16"), (config.BosTokenId, config.EosTokenId, config.TorchDtype));
    }
}
