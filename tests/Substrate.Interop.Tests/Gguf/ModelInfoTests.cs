using Substrate.Nn.Ggml;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;

namespace Substrate.Interop.Tests.Gguf;

public class ModelInfoTests
{
    [Fact]
    public void Folder_and_gguf_describe_the_same_model()
    {
        var dir = GgufTestModels.CreateFolder();
        var path = Path.Combine(TinyModels.Dir(), "m.gguf");
        GgufExporter.Export(dir, path, GgufFileType.Q8_0, name: "tiny");
        long expectedParameters;
        using (var model = ModelFolder.Load(dir)) expectedParameters = model.ParameterCount();

        var folder = ModelInfo.Describe(dir);
        var gguf = ModelInfo.Describe(path);
        foreach (var info in new[] { folder, gguf })
        {
            Assert.Equal(expectedParameters, info.ParameterCount);
            Assert.Equal(512, info.VocabSize);
            Assert.Equal(128, info.ContextLength);
            Assert.Equal(2, info.Layers);
            Assert.Equal(4, info.Heads);
            Assert.Equal(2, info.KvHeads);
            Assert.Equal(64, info.HiddenSize);
            Assert.True(info.TiedEmbeddings);
            Assert.Contains("parameters", info.ToText());
        }
        Assert.Equal("LlamaForCausalLM", folder.Architecture);
        Assert.Equal(expectedParameters, folder.ParametersByDtype["F32"]);
        Assert.Equal("byte-level BPE", folder.TokenizerModel);
        Assert.Contains(folder.Files, f => f.Name == "model.safetensors" && f.Bytes > expectedParameters * 4);

        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal("tiny", gguf.Name);
        Assert.Equal("Q8_0", gguf.FileType);
        Assert.Equal("gpt2", gguf.TokenizerModel);
        Assert.Equal(new FileInfo(path).Length, gguf.TotalBytes);
        Assert.Equal(expectedParameters, gguf.ParametersByDtype.Values.Sum());
        Assert.Equal(64 * 2 * 2 + 64, gguf.ParametersByDtype["F32"]); // the norms
        Assert.Throws<FileNotFoundException>(() => ModelInfo.Describe(Path.Combine(dir, "nope.gguf")));
    }

    [Theory]
    [InlineData("num_hidden_layers", 1_000_000_000L, "1000000000 layers")]
    [InlineData("hidden_size", 1_000_000_000L, "model.embed_tokens.weight")]
    public void Info_refuses_a_config_its_weights_do_not_match(string key, long value, string reason)
    {
        var dir = GgufTestModels.CreateFolder();
        var path = Path.Combine(dir, ModelFolder.ConfigFile);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        config[key] = value;
        if (key == "hidden_size") config["head_dim"] = 16;
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => ModelInfo.Describe(dir));
        Assert.Contains(reason, e.Message);
    }
}
