using Substrate.Nn.Ggml;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using static TorchSharp.torch;

namespace Substrate.Interop.Tests.Gguf;

public class GgufRoundTripTests
{
    [Fact]
    public void Export_writes_llama_metadata_and_tensor_names()
    {
        var dir = GgufTestModels.CreateFolder();
        var path = Path.Combine(dir, "m.gguf");
        GgufExporter.Export(dir, path, GgufFileType.Q8_0, name: "tiny-test");
        using var r = new GgufReader(path);
        var c = GgufTestModels.Config;
        Assert.Equal("llama", r.GetString("general.architecture"));
        Assert.Equal("tiny-test", r.GetString("general.name"));
        Assert.Equal((long)GgufFileType.Q8_0, r.GetInt("general.file_type"));
        Assert.Equal(c.MaxPositionEmbeddings, r.GetInt("llama.context_length"));
        Assert.Equal(c.HiddenSize, r.GetInt("llama.embedding_length"));
        Assert.Equal(c.NumHiddenLayers, r.GetInt("llama.block_count"));
        Assert.Equal(c.IntermediateSize, r.GetInt("llama.feed_forward_length"));
        Assert.Equal(c.HeadDim, r.GetInt("llama.rope.dimension_count"));
        Assert.Equal(c.NumAttentionHeads, r.GetInt("llama.attention.head_count"));
        Assert.Equal(c.NumKeyValueHeads, r.GetInt("llama.attention.head_count_kv"));
        Assert.Equal(1e-5f, (float)r.GetDouble("llama.attention.layer_norm_rms_epsilon")!.Value);
        Assert.Equal(10000f, (float)r.GetDouble("llama.rope.freq_base")!.Value);
        Assert.Equal(c.VocabSize, r.GetInt("llama.vocab_size"));
        Assert.Equal("gpt2", r.GetString("tokenizer.ggml.model"));
        Assert.Equal("llama-bpe", r.GetString("tokenizer.ggml.pre"));
        var tokens = r.Require("tokenizer.ggml.tokens").AsArray<string>();
        var types = r.Require("tokenizer.ggml.token_type").AsArray<int>();
        Assert.Equal(c.VocabSize, tokens.Length);
        Assert.Equal("Ġ", tokens[32]); // byte 0x20 in the byte-level alphabet
        Assert.Equal("<|begin_of_text|>", tokens[474]);
        Assert.Equal("<|eot_id|>", tokens[479]);
        Assert.Equal((int)GgufTokenType.Control, types[474]);
        Assert.Equal((int)GgufTokenType.Normal, types[300]);
        Assert.Equal("[PAD511]", tokens[511]);
        Assert.Equal((int)GgufTokenType.Unused, types[511]);
        Assert.Equal(480 - 256 - 6, r.Require("tokenizer.ggml.merges").AsArray<string>().Length);
        Assert.Equal(474, r.GetInt("tokenizer.ggml.bos_token_id"));
        Assert.Equal(475, r.GetInt("tokenizer.ggml.eos_token_id"));
        Assert.Equal(476, r.GetInt("tokenizer.ggml.padding_token_id"));
        Assert.Equal(true, r.GetBool("tokenizer.ggml.add_bos_token"));
        Assert.Equal(Substrate.Tokenizers.Formats.HfTokenizerJsonWriter.Llama3ChatTemplate, r.GetString("tokenizer.chat_template"));

        var expected = new List<string> { "token_embd.weight" };
        for (int i = 0; i < c.NumHiddenLayers; i++)
            expected.AddRange(new[] { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" }
                .Select(n => $"blk.{i}.{n}.weight"));
        expected.Add("output_norm.weight"); // tied: no output.weight
        Assert.Equal(expected, r.Tensors.Select(t => t.Name));
        Assert.Equal(GgmlType.F32, r.Tensor("blk.0.attn_norm.weight").Type);
        Assert.Equal(GgmlType.F32, r.Tensor("output_norm.weight").Type);
        Assert.Equal(GgmlType.Q8_0, r.Tensor("blk.1.ffn_down.weight").Type);
        Assert.Equal([128L, 64], r.Tensor("blk.0.ffn_down.weight").Dims); // ne = [in, out]
        Assert.Equal([64L, 32], r.Tensor("blk.0.attn_k.weight").Dims);
    }

    [Theory]
    [InlineData(GgufFileType.F32)]
    [InlineData(GgufFileType.F16)]
    [InlineData(GgufFileType.BF16)]
    [InlineData(GgufFileType.Q8_0)]
    [InlineData(GgufFileType.Q4_0)]
    public void Gguf_to_folder_to_gguf_preserves_tensors_and_tokenizer(GgufFileType type)
    {
        var dir = GgufTestModels.CreateFolder();
        var first = Path.Combine(dir, "first.gguf");
        GgufExporter.Export(dir, first, type);
        var imported = TinyModels.Dir();
        GgufImporter.Import(first, imported);
        var second = Path.Combine(imported, "second.gguf");
        GgufExporter.Export(imported, second, type, name: new DirectoryInfo(dir).Name);

        using var a = new GgufReader(first);
        using var b = new GgufReader(second);
        Assert.Equal(a.Tensors.Select(t => (t.Name, t.Type, string.Join(",", t.Dims))), b.Tensors.Select(t => (t.Name, t.Type, string.Join(",", t.Dims))));
        foreach (var t in a.Tensors) Assert.True(a.ReadBytes(t).AsSpan().SequenceEqual(b.ReadBytes(b.Tensor(t.Name))), $"{type}: {t.Name} differs");
        foreach (var key in a.Keys)
        {
            var (x, y) = (a.Require(key), b.Get(key));
            Assert.NotNull(y);
            if (x.Value is Array xs) Assert.Equal(xs.Cast<object>(), ((Array)y!.Value).Cast<object>());
            else Assert.Equal(x.Value, y!.Value);
        }
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
    }

    [Fact]
    public void F32_export_then_import_gives_back_the_same_weights_and_config()
    {
        var dir = GgufTestModels.CreateFolder();
        var path = Path.Combine(dir, "m.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F32);
        var back = TinyModels.Dir();
        var config = GgufImporter.Import(path, back);
        Assert.Equal(GgufTestModels.Config with { BosTokenId = 474, EosTokenId = 475 }, config with { Architectures = GgufTestModels.Config.Architectures });
        using var original = ModelFolder.Load(dir);
        using var imported = ModelFolder.Load(back);
        var expected = original.state_dict();
        foreach (var (name, tensor) in imported.state_dict())
            Assert.True(tensor.allclose(expected[name], 0, 0), $"{name} differs");
        Assert.True(File.Exists(Path.Combine(back, "tokenizer.json")));
        Assert.Contains("chat_template", File.ReadAllText(Path.Combine(back, "tokenizer_config.json")));
    }

    [Fact]
    public void Untied_models_export_output_weight()
    {
        var dir = GgufTestModels.CreateFolder(GgufTestModels.Config with { TieWordEmbeddings = false });
        var path = Path.Combine(dir, "m.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F32);
        using (var r = new GgufReader(path))
        {
            Assert.Equal([64L, 512], r.Tensor("output.weight").Dims);
            Assert.Equal("output.weight", r.Tensors[^1].Name);
        }
        var back = TinyModels.Dir();
        Assert.False(GgufImporter.Import(path, back).TieWordEmbeddings);
        using var original = ModelFolder.Load(dir);
        using var imported = ModelFolder.Load(back);
        using var ids = TinyModels.Ids();
        using var _ = no_grad();
        Assert.True(original.forward(ids).allclose(imported.forward(ids), 0, 0));
    }

    [Fact]
    public void Q_and_k_rows_are_permuted_to_ggml_interleaved_pairs()
    {
        // 2 heads of width 4 (rows 0..7), one column: HF rows per head are [x0, x1 | y0, y1] (rotate_half halves);
        // GGML wants the rotary pairs adjacent: [x0, y0, x1, y1].
        var weight = Enumerable.Range(0, 8).Select(i => (float)i).ToArray();
        var permuted = LlamaGgufNames.PermuteForGguf(weight, heads: 2, cols: 1);
        Assert.Equal([0f, 2, 1, 3, 4, 6, 5, 7], permuted);
        Assert.Equal(weight, LlamaGgufNames.UnpermuteFromGguf(permuted, 2, 1));
        var wide = Enumerable.Range(0, 16 * 3).Select(i => (float)i).ToArray();
        Assert.Equal(wide, LlamaGgufNames.UnpermuteFromGguf(LlamaGgufNames.PermuteForGguf(wide, 2, 3), 2, 3));
    }

    [Fact]
    public void File_type_names_parse()
    {
        Assert.Equal(GgufFileType.Q8_0, GgmlTypes.ParseFileType("Q8_0"));
        Assert.Equal(GgufFileType.F32, GgmlTypes.ParseFileType("f32"));
        Assert.Equal(GgufFileType.Q4_K_M, GgmlTypes.ParseFileType("q4_K_M"));
        Assert.Equal("q4_K_M", GgmlTypes.Name(GgufFileType.Q4_K_M));
        Assert.Contains("q4_0", Assert.Throws<ArgumentException>(() => GgmlTypes.ParseFileType("q7_k")).Message);
        // llama-quantize's aliases: q4_K is Q4_K_M, q5_K is Q5_K_M, q3_K is Q3_K_M (any case); q6_K and q2_K are their own.
        Assert.Equal(GgufFileType.Q4_K_M, GgmlTypes.ParseFileType("q4_K"));
        Assert.Equal(GgufFileType.Q5_K_M, GgmlTypes.ParseFileType("q5_k"));
        Assert.Equal(GgufFileType.Q3_K_M, GgmlTypes.ParseFileType("Q3_K"));
        Assert.Equal(GgufFileType.Q6_K, GgmlTypes.ParseFileType("q6_K"));
        Assert.Throws<ArgumentException>(() => GgmlTypes.ParseFileType("q4_0_M"));
    }

    [Fact]
    public void Names_map_both_ways()
    {
        Assert.Equal("blk.11.attn_output.weight", LlamaGgufNames.ToGguf("model.layers.11.self_attn.o_proj.weight"));
        Assert.Equal("model.layers.3.mlp.gate_proj.weight", LlamaGgufNames.ToHf("blk.3.ffn_gate.weight"));
        Assert.Equal("output.weight", LlamaGgufNames.ToGguf("lm_head.weight"));
        Assert.Null(LlamaGgufNames.ToGguf("model.layers.0.self_attn.rotary_emb.inv_freq"));
        Assert.Null(LlamaGgufNames.ToHf("rope_freqs.weight"));
    }

    [Fact]
    public void Import_rejects_other_architectures_and_missing_tensors()
    {
        var dir = TinyModels.Dir();
        var path = Path.Combine(dir, "x.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", "gpt2");
        w.Write(path);
        Assert.Contains("architecture 'gpt2'", Assert.Throws<NotSupportedException>(() => GgufImporter.Import(path, TinyModels.Dir())).Message);

        var full = GgufTestModels.CreateFolder();
        var good = Path.Combine(full, "m.gguf");
        GgufExporter.Export(full, good, GgufFileType.F32);
        using (var r = new GgufReader(good))
        {
            var partial = new GgufWriter();
            foreach (var key in r.Keys.Where(k => k != "general.alignment")) partial.Add(key, r.Require(key));
            foreach (var t in r.Tensors.Where(t => t.Name != "blk.1.ffn_up.weight")) partial.AddTensorBytes(t.Name, t.Shape, t.Type, r.ReadBytes(t));
            partial.Write(path);
        }
        var e = Assert.Throws<InvalidDataException>(() => GgufImporter.Import(path, TinyModels.Dir()));
        Assert.Contains("blk.1.ffn_up.weight", e.Message);
    }
}
