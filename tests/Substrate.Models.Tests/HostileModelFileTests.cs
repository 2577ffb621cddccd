using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>Model folders a careless or hostile hand made: sizes that would exhaust memory, corrupt weights.</summary>
public class HostileModelFileTests
{
    private static string SavedTinyFolder(bool tied = true)
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create(TinyModels.Config with { TieWordEmbeddings = tied });
        ModelFolder.Save(model, dir);
        return dir;
    }

    private static void EditConfig(string dir, string key, long value)
    {
        var path = Path.Combine(dir, ModelFolder.ConfigFile);
        var config = JsonNode.Parse(File.ReadAllText(path))!;
        config[key] = value;
        File.WriteAllText(path, config.ToJsonString());
    }

    [Theory]
    [InlineData(true, "llama")]
    [InlineData(false, "llama")]
    [InlineData(true, "qwen2")]
    [InlineData(false, "qwen2")]
    [InlineData(true, "qwen3")]
    [InlineData(false, "mistral")]
    public void The_layout_is_the_models_own_state_dict(bool tied, string modelType)
    {
        AssertLayoutIsTheStateDict(ModelFamily.Find(modelType).Apply(TinyModels.Config with { TieWordEmbeddings = tied, HeadDimOverride = 16 }));
    }

    /// <summary>ModelLayout (what the memory check and the loaders read) names and shapes exactly the parameters a model of
    /// <paramref name="config"/> has, in its state-dict order.</summary>
    internal static void AssertLayoutIsTheStateDict(ModelConfig config)
    {
        using var model = TinyModels.Create(config);
        var expected = model.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToList();
        var layout = ModelLayout.Parameters(config).ToList();
        Assert.Equal(expected.Select(e => e.Key), layout.Select(l => l.Name));
        Assert.All(expected.Zip(layout), p => Assert.Equal(p.First.shape, p.Second.Shape));
        Assert.Equal(model.parameters().Sum(p => p.numel()), ModelLayout.ParameterCount(config));
    }

    [Fact]
    public void A_billion_layers_in_config_json_is_refused_before_allocating()
    {
        var dir = SavedTinyFolder();
        EditConfig(dir, "num_hidden_layers", 1_000_000_000);
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains("1000000000 layers", e.Message);
        var built = Assert.Throws<InsufficientMemoryException>(() => new LlamaForCausalLM(ModelFolder.ReadConfig(dir)));
        Assert.Contains("GiB of memory is available", built.Message);
    }

    [Fact]
    public void A_billion_wide_hidden_size_is_refused_before_allocating()
    {
        var dir = SavedTinyFolder();
        EditConfig(dir, "hidden_size", 1_000_000_000);
        EditConfig(dir, "head_dim", 8);
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains("model.embed_tokens.weight", e.Message);
        Assert.Contains("1000000000", e.Message);
        Assert.Throws<InsufficientMemoryException>(() => new LlamaForCausalLM(ModelFolder.ReadConfig(dir)));
    }

    [Fact]
    public void Weights_holding_nan_are_refused_with_the_tensor_named()
    {
        var dir = TinyModels.Dir();
        using (var model = TinyModels.Create())
        {
            using (no_grad()) model.state_dict()["model.layers.1.mlp.down_proj.weight"][3, 5] = float.NaN;
            ModelFolder.Save(model, dir);
        }
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains("model.layers.1.mlp.down_proj.weight", e.Message);
        Assert.Contains("1 NaN or infinite", e.Message);
    }

    [Fact]
    public void A_bit_flip_to_infinity_is_refused()
    {
        var dir = SavedTinyFolder(tied: false);
        var path = Path.Combine(dir, ModelFolder.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        using (var reader = new SafetensorsReader(path))
        {
            // fp32 little-endian: setting every exponent bit of one element makes it ±inf (or NaN).
            var entry = reader.Entry("lm_head.weight");
            var at = 8 + (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes) + entry.Begin + 4 * 7;
            bytes[at + 3] |= 0x7F;
            bytes[at + 2] |= 0x80;
        }
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains("lm_head.weight", e.Message);
    }
}
