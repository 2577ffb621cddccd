using Substrate.Nn.Ggml;
using System.Text.Json.Nodes;
using Substrate.IO;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>A PEFT LoRA folder exported as a GGUF adapter: llama.cpp running base + adapter must give the logits of the merged model.</summary>
public class GgufAdapterTests(ITestOutputHelper output)
{
    private static readonly string[] Targets = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    /// <summary>Also on qwen2 and qwen3 bases, whose files keep HF's q/k row order (no GGML permutation of B's rows).</summary>
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("gemma3_text")]
    [InlineData("phi3")] // adapters on the fused attn_qkv and ffn_up
    public void Llama_cpp_with_the_adapter_matches_the_merged_model(string modelType)
    {
        const int rank = 4;
        const double alpha = 8;
        var config = ModelFamily.Find(modelType).Apply(GgufTestModels.Config with
            { SlidingWindowSize = modelType == "gemma3_text" ? 8 : null, QueryPreAttnScalar = modelType == "gemma3_text" ? 16 : null });
        var baseDir = GgufTestModels.CreateFolder(config);
        var adapterDir = TinyModels.Dir();
        var targets = config.FusedProjections ? ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"] : Targets;
        using var merged = ModelFolder.Load(baseDir);
        var weights = merged.state_dict();
        var adapter = new Dictionary<string, Tensor>();
        manual_seed(99);
        using (no_grad())
        {
            for (int layer = 0; layer < config.NumHiddenLayers; layer++)
                foreach (var target in targets)
                {
                    var w = weights[$"model.layers.{layer}.{target}.weight"]; // (out, in)
                    var a = randn(rank, w.shape[1]) * 0.3;                   // (r, in)
                    var b = randn(w.shape[0], rank) * 0.3;                   // (out, r)
                    adapter[$"base_model.model.model.layers.{layer}.{target}.lora_A.weight"] = a;
                    adapter[$"base_model.model.model.layers.{layer}.{target}.lora_B.weight"] = b;
                    w.add_(b.matmul(a) * (alpha / rank));
                }
        }
        SafetensorsWriter.Write(Path.Combine(adapterDir, "adapter_model.safetensors"), adapter);
        AtomicFile.WriteAllText(Path.Combine(adapterDir, "adapter_config.json"), new JsonObject
        {
            ["peft_type"] = "LORA", ["task_type"] = "CAUSAL_LM", ["r"] = rank, ["lora_alpha"] = alpha,
            ["target_modules"] = new JsonArray(targets.Select(t => (JsonNode)t.Split('.')[1]).ToArray()), ["base_model_name_or_path"] = baseDir,
        }.ToJsonString());

        var baseGguf = Path.Combine(baseDir, "base.gguf");
        var adapterGguf = Path.Combine(adapterDir, "adapter.gguf");
        GgufExporter.Export(baseDir, baseGguf, GgufFileType.F32);
        GgufAdapterExporter.Export(adapterDir, baseDir, adapterGguf);
        using (var r = new GgufReader(adapterGguf))
        {
            Assert.Equal("adapter", r.GetString("general.type"));
            Assert.Equal("lora", r.GetString("adapter.type"));
            Assert.Equal(alpha, r.GetDouble("adapter.lora.alpha"));
            var (q, k, width) = config.FusedProjections ? ("attn_qkv", "attn_qkv", 128L) : ("attn_q", "attn_k", 32L); // (4 + 2·2)·16, 2·16
            Assert.Equal([64L, rank], r.Tensor($"blk.0.{q}.weight.lora_a").Dims);
            Assert.Equal([(long)rank, width], r.Tensor($"blk.1.{k}.weight.lora_b").Dims);
        }

        if (config.Activation != "silu") GgmlGelu.Emulate(merged); // llama.cpp's fp16 GELU table
        var ids = Enumerable.Range(0, 24).Select(i => (i * 37 + 5) % 470).ToArray();
        var expected = GgufTestModels.Logits(merged, ids);
        using var cpp = new LlamaCpp(baseGguf, loraPath: adapterGguf);
        var actual = cpp.Logits(ids);
        using var plain = new LlamaCpp(baseGguf);
        var withoutAdapter = plain.Logits(ids);
        double diff = 0, effect = 0;
        for (int t = 0; t < ids.Length; t++)
            for (int v = 0; v < expected[t].Length; v++)
            {
                diff = Math.Max(diff, Math.Abs(expected[t][v] - actual[t][v]));
                effect = Math.Max(effect, Math.Abs(expected[t][v] - withoutAdapter[t][v]));
            }
        output.WriteLine($"{modelType}: max |logit diff| merged vs llama.cpp + adapter: {diff:E3}; the adapter moves logits by up to {effect:F2}");
        Assert.True(effect > 0.5, "the adapter should change the logits visibly");
        Assert.True(diff <= 1e-3, $"max |logit diff| {diff}");
    }
}
