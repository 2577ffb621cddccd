using Substrate.Inference;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Nn.Ggml;
using Substrate.Models.Tests;
using Substrate.Tokenizers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// Mixtures of experts against llama.cpp: a tiny random Mixtral, Qwen2-MoE (shared expert) and Qwen3-MoE, exported as F32 GGUF
/// with llama.cpp's stacked expert tensors and run by llama.cpp — logits within 1e-3, 32 greedy tokens identical (Substrate's
/// TorchSharp path and its fast CPU decoder, which reads only the chosen experts), the file's own CPU decoder agreeing, and
/// the file imported back to the same family and logits.
/// </summary>
public class LlamaCppMoeTests(ITestOutputHelper output)
{
    /// <summary>4 experts, top-2, on the shared tiny shape (hidden 64, 2 layers).</summary>
    private static ModelConfig Config(string family) => family switch
    {
        "mixtral" => ModelFamily.Mixtral.Apply(GgufTestModels.Config with { NumLocalExperts = 4, NumExpertsPerTok = 2, TieWordEmbeddings = false }),
        "qwen2_moe" => ModelFamily.Qwen2Moe.Apply(GgufTestModels.Config with
        {
            NumExperts = 4, NumExpertsPerTok = 2, MoeIntermediateSize = 32, SharedExpertIntermediateSize = 48, NormTopkProb = false,
            TieWordEmbeddings = false,
        }),
        "qwen3_moe" => ModelFamily.Qwen3Moe.Apply(GgufTestModels.Config with
        {
            NumExperts = 4, NumExpertsPerTok = 2, MoeIntermediateSize = 32, NormTopkProb = true, HeadDimOverride = 16,
        }),
        _ => throw new ArgumentException(family),
    };

    private const string Prompt = "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money";

    [Theory]
    [InlineData("mixtral", "llama")]
    [InlineData("qwen2_moe", "qwen2moe")]
    [InlineData("qwen3_moe", "qwen3moe")]
    public void Llama_cpp_runs_the_exported_mixture_of_experts_as_substrate_does(string family, string architecture)
    {
        var config = Config(family);
        var dir = GgufTestModels.CreateFolder(config);
        var path = Path.Combine(dir, "model.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F32);
        using (var r = new GgufReader(path))
        {
            Assert.Equal(architecture, r.GetString("general.architecture"));
            Assert.Equal(4, r.GetInt($"{architecture}.expert_count"));
            Assert.Equal(2, r.GetInt($"{architecture}.expert_used_count"));
            Assert.Equal([4L, config.ExpertIntermediateSize, 64], r.Tensor("blk.1.ffn_gate_exps.weight").Shape);
            Assert.Equal([4L, 64, config.ExpertIntermediateSize], r.Tensor("blk.1.ffn_down_exps.weight").Shape);
        }
        using var model = ModelFolder.Load(dir);
        var ids = TokenizerLoader.Load(dir).Encode(Prompt + " " + LlamaCppProofTests.Texts[0], addSpecialTokens: true);
        using var cpp = new LlamaCpp(path);
        var expectedLogits = GgufTestModels.Logits(model, ids);
        var difference = LlamaCppProofTests.MaxDiff(expectedLogits, cpp.Logits(ids));

        var prompt = ids[..12];
        var torch = GgufTestModels.Greedy(model, prompt, 32, DecoderImplementation.Torch);
        var fast = GgufTestModels.Greedy(model, prompt, 32, DecoderImplementation.Fast);
        var actual = cpp.Greedy(prompt, 32);
        output.WriteLine($"{family}: max |logit diff| {difference:E3} over {ids.Length} positions; greedy equal: " +
            $"{torch.Zip(actual).TakeWhile(p => p.First == p.Second).Count()} of 32");
        Assert.True(difference <= 1e-3, $"{family}: max |logit diff| {difference} > 1e-3");
        Assert.Equal(torch, actual);
        Assert.Equal(torch, fast);

        using (var decoder = GgufCpuDecoder.Open(path)) // the file's stacked experts, sliced per expert
        {
            var logits = new float[config.VocabSize];
            foreach (var (token, t) in ids.Take(8).Select((token, t) => (token, t)))
            {
                decoder.Step(token, logits);
                Assert.True(LlamaCppProofTests.MaxDiff([expectedLogits[t]], [logits]) <= 1e-4, $"{family}: the GGUF CPU decoder at position {t}");
            }
            Assert.All(decoder.ExpertTokens, layer => Assert.Equal(8 * 2, layer.Sum()));
        }

        var imported = TinyModels.Dir();
        var read = GgufImporter.Import(path, imported);
        Assert.Equal(config with { BosTokenId = read.BosTokenId, EosTokenId = read.EosTokenId }, read with { TorchDtype = null });
        using var back = ModelFolder.Load(imported);
        Assert.True(LlamaCppProofTests.MaxDiff(expectedLogits, GgufTestModels.Logits(back, ids)) <= 1e-5);
    }

    [Fact]
    public void Mixture_math_that_llama_cpp_runs_otherwise_is_refused_at_export()
    {
        var dir = GgufTestModels.CreateFolder(Config("qwen2_moe") with { NormTopkProb = true });
        var e = Assert.Throws<NotSupportedException>(() => GgufExporter.Export(dir, Path.Combine(dir, "model.gguf"), GgufFileType.F32));
        Assert.Contains("norm_topk_prob", e.Message);
        var dense = GgufTestModels.CreateFolder(Config("qwen3_moe") with { MlpOnlyLayers = [0] });
        e = Assert.Throws<NotSupportedException>(() => GgufExporter.Export(dense, Path.Combine(dense, "model.gguf"), GgufFileType.F32));
        Assert.Contains("mlp_only_layers", e.Message);
    }
}
