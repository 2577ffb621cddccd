using TorchSharp;
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
        float[] expected = [4.4030843f, 4.6376896f, 16.850967f, 11.535917f]; // printed once from this model, libtorch 2.10 CPU
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(picked[i] - expected[i]) <= 1e-5 * Math.Max(1, Math.Abs(expected[i])), $"logit {i}: {picked[i]:R} vs {expected[i]:R}");
        Assert.Equal(944.08496, logits.sum().item<float>(), 0.01);
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 3e-2)] // bf16: the kernels round once where libtorch rounds after every op
    public void FusedKernelsMatchTheLibtorchCompositions(ScalarType dtype, double tolerance)
    {
        // Same seed, same weights; the training path (grad enabled) takes every kernel: norms, stacked q/k/v, SwiGLU.
        (Tensor Logits, Dictionary<string, Tensor> Grads) Run(bool fusedKernels)
        {
            var model = TinyModels.Create(options: new ModelOptions { ComputeDtype = dtype, Attention = AttentionImplementation.Eager, FusedKernels = fusedKernels });
            using var ids = TinyModels.Ids();
            var logits = model.ComputeDtypeLogits(ids).to(ScalarType.Float32);
            logits.square().mean().backward();
            return (logits.detach(), model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!));
        }
        var (fused, fusedGrads) = Run(true);
        var (reference, referenceGrads) = Run(false);
        Assert.True(fused.allclose(reference, rtol: tolerance, atol: tolerance), $"logits max diff {(fused - reference).abs().max().item<float>()}");
        foreach (var (name, grad) in referenceGrads)
        {
            var scale = grad.abs().max().item<float>();
            var diff = (fusedGrads[name] - grad).abs().max().item<float>();
            Assert.True(diff <= tolerance * Math.Max(scale, 1e-3) * 10, $"{name}: grad max diff {diff} (max |grad| {scale})");
        }
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
    public void GroupedQueryAttentionEqualsMultiHeadWithRepeatedKeyValueHeads()
    {
        // nKv = 2 < nH = 4: each kv head serves two query heads. The same model with nKv = nH and
        // k/v projection rows repeated per head must give the same logits.
        using var gqa = TinyModels.Create(options: new ModelOptions { Attention = AttentionImplementation.Eager });
        using var mha = TinyModels.Create(TinyModels.Config with { NumKeyValueHeads = 4 }, new ModelOptions { Attention = AttentionImplementation.Eager });
        var source = gqa.state_dict();
        using (no_grad())
            foreach (var (name, target) in mha.state_dict())
            {
                var w = source[name];
                if (name.EndsWith("k_proj.weight") || name.EndsWith("v_proj.weight"))
                    w = w.view(2, 8, 32).repeat_interleave(2, dim: 0).reshape(32, 32); // (nKv, hd, H) → (nH·hd, H)
                target.copy_(w);
            }
        using var ids = TinyModels.Ids();
        using var a = gqa.call(ids);
        using var b = mha.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 1e-5), $"max diff {(a - b).abs().max().item<float>()}");
    }

    [Theory]
    [InlineData(AttentionImplementation.Eager)]
    [InlineData(AttentionImplementation.Fused)]
    public void CachedDecodingMatchesFullForward(AttentionImplementation attention)
    {
        using var model = TinyModels.Create(options: new ModelOptions { Attention = attention });
        using var ids = TinyModels.Ids();
        using var full = model.call(ids); // (2, 7, V)
        using var cache = model.CreateCache(batch: 2);
        using (no_grad())
        {
            // prefill 3 positions, then 2 at once (offset causal mask), then 1 and 1
            var pieces = new (long Start, long Length)[] { (0, 3), (3, 2), (5, 1), (6, 1) };
            foreach (var (start, length) in pieces)
            {
                using var part = model.forward(ids.narrow(1, start, length), cache, start);
                using var expected = full.narrow(1, start, length);
                Assert.True(part.allclose(expected, rtol: 0, atol: 1e-5), $"positions {start}+{length}: max diff {(part - expected).abs().max().item<float>()}");
                Assert.Equal(start + length, cache.Length);
            }
        }
    }

    [Fact]
    public void BFloat16ComputeIsCloseToFloat32()
    {
        using var fp32 = TinyModels.Create();
        using var bf16 = TinyModels.Create(options: new ModelOptions { ComputeDtype = ScalarType.BFloat16 });
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype)); // fp32 master weights
        using var ids = TinyModels.Ids();
        using var a = fp32.call(ids);
        using var b = bf16.call(ids);
        Assert.Equal(ScalarType.Float32, b.dtype);
        var diff = (a - b).abs().max().item<float>();
        output.WriteLine($"max |fp32 - bf16| = {diff}, max |logit| = {a.abs().max().item<float>()}");
        Assert.True(diff < 0.02, $"max diff {diff}");
    }

    [Fact]
    public void BFloat16WeightsRunForInference()
    {
        // For decoding, the weights themselves may be bf16 (no per-use cast): model.to(BFloat16).
        using var fp32 = TinyModels.Create();
        using var bf16 = TinyModels.Create(options: new ModelOptions { ComputeDtype = ScalarType.BFloat16 });
        bf16.to(ScalarType.BFloat16);
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var ids = TinyModels.Ids();
        using var a = fp32.call(ids);
        using var b = bf16.call(ids);
        Assert.Equal(ScalarType.Float32, b.dtype);
        Assert.True((a - b).abs().max().item<float>() < 0.02);
        using var cache = bf16.CreateCache(batch: 2);
        using (no_grad())
        {
            using var prefill = bf16.forward(ids.narrow(1, 0, 6), cache, 0);
            using var step = bf16.forward(ids.narrow(1, 6, 1), cache, 6);
            using var expected = b.narrow(1, 6, 1);
            Assert.True((step - expected).abs().max().item<float>() < 0.02);
        }
    }

    [Fact]
    public void BFloat16BackwardReachesFloat32Weights()
    {
        using var model = TinyModels.Create(options: new ModelOptions { ComputeDtype = ScalarType.BFloat16 });
        using var ids = TinyModels.Ids();
        using var logits = model.call(ids);
        using var loss = nn.functional.cross_entropy(logits.view(-1, 64), ids.view(-1));
        loss.backward();
        Assert.All(model.parameters(), p =>
        {
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
            Assert.True(p.grad.abs().sum().item<float>() > 0);
        });
    }

    [Theory]
    [InlineData(AttentionImplementation.Eager)]
    [InlineData(AttentionImplementation.Fused)]
    public void GradientsMatchFiniteDifferences(AttentionImplementation attention)
    {
        using var model = TinyModels.Create(options: new ModelOptions { Attention = attention });
        using (no_grad())
            foreach (var p in model.parameters()) p.mul_(5); // away from the near-linear regime of tiny weights
        using var ids = TinyModels.Ids();
        using var targets = ids.roll(-1, 1).reshape(-1);
        double Loss()
        {
            using var scope = NewDisposeScope();
            return nn.functional.cross_entropy(model.call(ids).view(-1, 64), targets).item<float>();
        }
        using (var scope = NewDisposeScope())
            nn.functional.cross_entropy(model.call(ids).view(-1, 64), targets).backward();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var probes = new (string Name, long Row, long Column)[]
        {
            ("model.embed_tokens.weight", 5, 3), ("model.layers.0.self_attn.q_proj.weight", 7, 2),
            ("model.layers.0.self_attn.k_proj.weight", 9, 30), ("model.layers.1.self_attn.v_proj.weight", 15, 0),
            ("model.layers.1.self_attn.o_proj.weight", 4, 20), ("model.layers.0.mlp.gate_proj.weight", 33, 1),
            ("model.layers.1.mlp.up_proj.weight", 60, 31), ("model.layers.0.mlp.down_proj.weight", 2, 63),
        };
        foreach (var (name, row, column) in probes)
        {
            var p = parameters[name];
            var analytic = p.grad![row, column].item<float>();
            const double h = 1e-2;
            double original;
            using (no_grad())
            {
                original = p[row, column].item<float>();
                p[row, column] = original + h;
            }
            var plus = Loss();
            using (no_grad()) p[row, column] = original - h;
            var minus = Loss();
            using (no_grad()) p[row, column] = original;
            var numeric = (plus - minus) / (2 * h);
            output.WriteLine($"{name}[{row},{column}]: analytic {analytic:E3}, numeric {numeric:E3}");
            Assert.True(Math.Abs(numeric - analytic) <= 1e-3 + 0.03 * Math.Abs(analytic) /* fp32 loss noise over 2h; curvature */, $"{name}: analytic {analytic}, numeric {numeric}");
        }
        foreach (var norm in new[] { "model.norm.weight", "model.layers.1.post_attention_layernorm.weight" })
            Assert.True(parameters[norm].grad!.abs().sum().item<float>() > 0, norm);
    }

    [Fact]
    public void ModelBuiltInsideADisposeScopeSurvivesIt()
    {
        LlamaForCausalLM model;
        using (NewDisposeScope()) model = TinyModels.Create();
        using (model)
        using (var ids = TinyModels.Ids())
        {
            using var a = model.call(ids);
            using var b = model.call(ids); // rotary tables built in the first call's scope are still alive
            Assert.True(a.allclose(b, rtol: 0, atol: 0));
        }
    }

    [Fact]
    public void PresetsAreKnownAndUnknownNamesAreListed()
    {
        Assert.Equal(["tiny", "small", "base", "bench-12m", "tiny-moe", "small-moe"], ModelPresets.Names);
        var ex = Assert.Throws<ArgumentException>(() => ModelPresets.Get("huge"));
        Assert.Contains("tiny, small, base, bench-12m, tiny-moe, small-moe", ex.Message);
        var bench = ModelPresets.Get("bench-12m");
        Assert.Equal((8192, 384, 6, 6, 2, 1024, 256, 10000.0, 1e-5, true),
            (bench.VocabSize, bench.HiddenSize, bench.NumHiddenLayers, bench.NumAttentionHeads, bench.NumKeyValueHeads,
             bench.IntermediateSize, bench.MaxPositionEmbeddings, bench.RopeTheta, bench.RmsNormEps, bench.TieWordEmbeddings));
        foreach (var name in ModelPresets.Names)
        {
            manual_seed(0);
            using var m = new LlamaForCausalLM(ModelPresets.Get(name) with { VocabSize = name == "tiny" ? 2048 : 8192 });
            output.WriteLine($"{name}: {m.ParameterCount():N0} parameters ({m.ParameterCount(false):N0} without embeddings)");
        }
    }

    [Fact]
    public void LongSequencesTakeTheSplitCausalPathAndStillMatchFused()
    {
        // Eager attention splits the queries in halves from T = 128 on; check it there, with and without a cache prefix.
        var config = TinyModels.Config with { MaxPositionEmbeddings = 256 };
        using var eager = TinyModels.Create(config, new ModelOptions { Attention = AttentionImplementation.Eager });
        using var fused = TinyModels.Create(config, new ModelOptions { Attention = AttentionImplementation.Fused });
        manual_seed(5);
        using var ids = randint(64, [2, 201]);
        using var a = eager.call(ids);
        using var b = fused.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 1e-5), $"max diff {(a - b).abs().max().item<float>()}");
        using var cache = eager.CreateCache(batch: 2);
        using (no_grad())
        {
            using var first = eager.forward(ids.narrow(1, 0, 150), cache, 0);
            using var rest = eager.forward(ids.narrow(1, 150, 51), cache, 150);
            using var expected = b.narrow(1, 150, 51);
            Assert.True(rest.allclose(expected, rtol: 0, atol: 1e-5));
        }
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
