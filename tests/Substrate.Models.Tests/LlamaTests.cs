using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

public class LlamaTests(ITestOutputHelper output)
{
    [Fact]
    public void TiedParameterNamesAndShapesAreTheHuggingFaceOnes()
    {
        using var model = TinyModels.Create();
        var actual = model.named_parameters().Select(p => $"{p.name} [{string.Join(",", p.parameter.shape)}]").ToList();
        var expected = new List<string> { "model.embed_tokens.weight [64,32]" };
        for (var i = 0; i < 2; i++)
            expected.AddRange([
                $"model.layers.{i}.input_layernorm.weight [32]",
                $"model.layers.{i}.self_attn.q_proj.weight [32,32]",
                $"model.layers.{i}.self_attn.k_proj.weight [16,32]",
                $"model.layers.{i}.self_attn.v_proj.weight [16,32]",
                $"model.layers.{i}.self_attn.o_proj.weight [32,32]",
                $"model.layers.{i}.post_attention_layernorm.weight [32]",
                $"model.layers.{i}.mlp.gate_proj.weight [64,32]",
                $"model.layers.{i}.mlp.up_proj.weight [64,32]",
                $"model.layers.{i}.mlp.down_proj.weight [32,64]",
            ]);
        expected.Add("model.norm.weight [32]");
        Assert.Equal(expected.Order(), actual.Order());
        Assert.Equal(expected.Count, model.state_dict().Count); // no buffers: rotary tables stay out
    }

    [Fact]
    public void UntiedModelHasLmHead()
    {
        using var model = TinyModels.Create(TinyModels.Config with { TieWordEmbeddings = false });
        var names = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(new long[] { 64, 32 }, names["lm_head.weight"]);
        Assert.Equal(2 + 2 * 9 + 1, names.Count);
        Assert.Equal(64 * 32 * 2 + 2 * (32 * 3 + 32 * 32 * 2 + 16 * 32 * 2 + 64 * 32 * 3) - 32 * 2 + 32, model.ParameterCount());
    }

    [Fact]
    public void SeededLogitsArePinned()
    {
        using var model = TinyModels.Create();
        using (no_grad())
            foreach (var p in model.parameters()) p.mul_(10); // N(0, 0.2) weights: logits of order 1, not 0.01
        using var ids = TinyModels.Ids();
        using var logits = model.call(ids);
        Assert.Equal(new long[] { 2, 7, 64 }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        var picked = new[] { logits[0, 0, 0].item<float>(), logits[0, 6, 5].item<float>(), logits[1, 3, 63].item<float>(), logits[1, 6, 17].item<float>() };
        output.WriteLine(string.Join(", ", picked.Select(v => v.ToString("R"))));
        output.WriteLine($"sum {logits.sum().item<float>():R} abs-sum {logits.abs().sum().item<float>():R}");
    }

    [Fact]
    public void FusedAttentionMatchesEager()
    {
        using var eager = TinyModels.Create(options: new ModelOptions { Attention = AttentionImplementation.Eager });
        using var fused = TinyModels.Create(options: new ModelOptions { Attention = AttentionImplementation.Fused });
        using var ids = TinyModels.Ids();
        using var a = eager.call(ids);
        using var b = fused.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 1e-5), $"max diff {(a - b).abs().max().item<float>()}");
    }

    [Fact]
    public void Bench12mParameterCount()
    {
        manual_seed(0);
        using var model = new LlamaForCausalLM(ModelPresets.Get("bench-12m"));
        output.WriteLine($"bench-12m: {model.ParameterCount()} parameters, {model.ParameterCount(false)} without embeddings");
        Assert.Equal(12_587_904, model.ParameterCount());
        Assert.Equal(12_587_904 - 8192 * 384, model.ParameterCount(includeEmbeddings: false));
    }
}
