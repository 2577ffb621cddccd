using Substrate.Inference.CpuDecode;
using Substrate.Models;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

public class CpuDecoderTests
{
    private static readonly int[] Sequence = new ByteTokenizer().Encode("The cat sat on the mat, then it ran off.", addSpecialTokens: true);

    // Tied GQA (TinyModel); untied multi-head; untied one kv head with widths that are no multiple of 16/32
    // (hd = 10, H = 40, I = 72), so every vector kernel's tail runs.
    // The family switches, each on the untied-odd shape with random biases and norms: qwen2 (q/k/v biases), qwen3 (q/k
    // norms, head_dim 16 ≠ H / nH), mistral (a window of 5 positions), llama3 rope scaling (original context 16), gemma3
    // (√H embeddings, 1 + w and sandwich norms, GeGLU, layers 0 and 2 sliding over 5 positions with base 100, layer 1 full with
    // linear scaling, attention scale 7^−½), phi3 (fused qkv_proj / gate_up_proj read as row views, longrope's long factors).
    public static TheoryData<string> Configs => ["tied-gqa", "untied-mha", "untied-odd", "qwen2", "qwen3", "mistral", "llama3", "gemma3", "phi3"];

    private static readonly ModelConfig Odd = new() { VocabSize = 258, HiddenSize = 40, NumHiddenLayers = 3, NumAttentionHeads = 4,
        NumKeyValueHeads = 1, IntermediateSize = 72, MaxPositionEmbeddings = 64, RmsNormEps = 1e-6, RopeTheta = 500, TieWordEmbeddings = false };

    private static LlamaForCausalLM Create(string name, ModelOptions? options = null) => name switch
    {
        "tied-gqa" => TinyModel.Create(options),
        "untied-mha" => Build(new ModelConfig { VocabSize = 258, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 4,
            IntermediateSize = 64, MaxPositionEmbeddings = 64, RmsNormEps = 1e-5, TieWordEmbeddings = false }, options),
        "qwen2" => Build(ModelFamily.Qwen2.Apply(Odd), options),
        "qwen3" => Build(ModelFamily.Qwen3.Apply(Odd with { HeadDimOverride = 16 }), options),
        "mistral" => Build(ModelFamily.Mistral.Apply(Odd with { SlidingWindowSize = 5 }), options),
        "llama3" => Build(Odd with { RopeScaling = new RopeScaling
            { RopeType = "llama3", Factor = 4, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 16 } }, options),
        "gemma3" => Build(ModelFamily.Gemma3.Apply(Odd with { SlidingWindowSize = 5, SlidingWindowPattern = 2, RopeLocalBaseFreq = 100,
            QueryPreAttnScalar = 7, RopeScaling = new RopeScaling { RopeType = "linear", Factor = 2 } }), options),
        // original context 1: every forward but position 0's (where rotation is the identity either way) takes the long
        // factors, in the reference's one forward and the decoder's steps alike; attention factor 1.2 given
        "phi3" => Build(ModelFamily.Phi3.Apply(Odd with { OriginalMaxPositionEmbeddings = 1, RopeScaling = new RopeScaling
            { RopeType = "longrope", ShortFactor = [1, 1.5, 2, 3, 4], LongFactor = [1, 2, 4, 8, 16], AttentionFactor = 1.2 } }), options),
        _ => Build(Odd, options),
    };

    private static LlamaForCausalLM Build(ModelConfig config, ModelOptions? options)
    {
        manual_seed(3);
        var model = new LlamaForCausalLM(config, options);
        using (no_grad())
        {
            foreach (var p in model.parameters()) p.mul_(5); // as TinyModel: distributions that are not flat
            if (config.QkvBias || config.QkNorm)
                foreach (var (name, p) in model.named_parameters())
                    if (name.Contains("_proj.bias")) p.copy_(randn_like(p));
                    else if (name.Contains("self_attn") && name.Contains("_norm.weight")) p.copy_(1 + 0.3 * randn_like(p));
            if (config.NormOffset) // Gemma norms start at 0 (scale 1); random, some layers' scales near 0 or negative
                foreach (var (name, p) in model.named_parameters())
                    if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.copy_(0.5 * randn_like(p));
        }
        return model;
    }

    /// <summary>The eager reference's logits for every position of <see cref="Sequence"/>: (T, V).</summary>
    private static float[][] Reference(LlamaForCausalLM model)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.call(tensor(Sequence.Select(i => (long)i).ToArray(), [1, Sequence.Length])); // (1, T, V)
        return Enumerable.Range(0, Sequence.Length).Select(t => logits[0, t].to(ScalarType.Float32).data<float>().ToArray()).ToArray();
    }

    /// <summary>The decoder's logits for every position, one Step per token: (T, V).</summary>
    private static float[][] Decode(LlamaForCausalLM model, int threads)
    {
        using var decoder = new CpuDecoder(model, threads: threads);
        return Sequence.Select(token =>
        {
            var logits = new float[model.Config.VocabSize];
            decoder.Step(token, logits);
            return logits;
        }).ToArray();
    }

    private static double MaxDifference(float[][] a, float[][] b) =>
        a.Zip(b).Max(rows => rows.First.Zip(rows.Second).Max(p => Math.Abs(p.First - p.Second)));

    [Theory]
    [MemberData(nameof(Configs))]
    public void StepMatchesTheEagerForwardAtEveryPosition(string config)
    {
        using var model = Create(config, new ModelOptions { Attention = AttentionImplementation.Eager });
        Assert.True(CpuDecoder.Supports(model, out var reason), reason);
        var difference = MaxDifference(Decode(model, threads: 2), Reference(model));
        // Logits span about ±12; measured 2–6e-5, llama3 1.2e-4 (its slowed low frequencies, same tables as RotaryEmbedding).
        var tolerance = config == "llama3" ? 2e-4 : 1e-4;
        Assert.True(difference <= tolerance, $"max |Δ logit| = {difference}");
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void LogitsDoNotDependOnTheThreadCount(string config)
    {
        using var model = Create(config);
        var one = Decode(model, threads: 1);
        Assert.Equal(one, Decode(model, threads: 2));
        Assert.Equal(one, Decode(model, threads: 3));
    }

    /// <summary>bf16 and fp16 weights are read as they are and widened exactly, activations stay fp32: the decoder
    /// equals the fp32 reference on the same rounded weights to fp32 precision.</summary>
    [Theory]
    [InlineData(ScalarType.BFloat16, "tied-gqa")]
    [InlineData(ScalarType.BFloat16, "untied-odd")]
    [InlineData(ScalarType.Float16, "untied-odd")]
    public void HalfWeightsMatchTheFloat32ReferenceOnTheRoundedWeights(ScalarType dtype, string config)
    {
        using var half = Create(config, new ModelOptions { WeightDtype = dtype, ComputeDtype = dtype });
        using var rounded = Create(config, new ModelOptions { Attention = AttentionImplementation.Eager });
        using (no_grad())
            foreach (var (p, q) in rounded.parameters().Zip(half.parameters())) p.copy_(q.to(ScalarType.Float32));
        var decoded = Decode(half, threads: 2);
        var difference = MaxDifference(decoded, Reference(rounded));
        Assert.True(difference <= 1e-4, $"max |Δ logit| = {difference}");
    }

    /// <summary>Against TorchSharp's own bf16 path, which also rounds every activation to bf16 (8-bit mantissa, 0.4% per
    /// rounding, compounded over the layers), the decoder agrees to bf16 precision: max |Δ logit| within 5% of the largest |logit|.
    /// Gemma's √H embeddings are rounded to bf16 on both sides, as transformers computes them in the embedding dtype.</summary>
    [Theory]
    [InlineData("tied-gqa")]
    [InlineData("gemma3")]
    public void BFloat16WeightsAgreeWithTheTorchBFloat16Path(string config)
    {
        using var model = Create(config, new ModelOptions { WeightDtype = ScalarType.BFloat16, ComputeDtype = ScalarType.BFloat16 });
        var reference = Reference(model);
        var scale = reference.Max(row => row.Max(Math.Abs));
        var difference = MaxDifference(Decode(model, threads: 2), reference);
        Assert.True(difference <= 0.05 * scale, $"max |Δ logit| = {difference}, max |logit| = {scale}");
    }

    [Theory]
    [InlineData(CpuDecoder.BatchedPrefillFrom, "untied-odd")]     // one TorchSharp forward, keys/values copied in
    [InlineData(CpuDecoder.BatchedPrefillFrom - 1, "untied-odd")] // token by token
    [InlineData(CpuDecoder.BatchedPrefillFrom, "mistral")]
    [InlineData(CpuDecoder.BatchedPrefillFrom, "qwen3")]
    [InlineData(CpuDecoder.BatchedPrefillFrom, "gemma3")]
    [InlineData(CpuDecoder.BatchedPrefillFrom, "phi3")]
    public void PrefillThenStepsMatchTheEagerForward(int promptLength, string config)
    {
        using var model = Create(config, new ModelOptions { Attention = AttentionImplementation.Eager });
        var reference = Reference(model);
        using var decoder = new CpuDecoder(model, threads: 2);
        var logits = new float[model.Config.VocabSize];
        decoder.Prefill(Sequence.Take(promptLength).ToArray(), logits);
        var decoded = new List<float[]> { logits.ToArray() };
        foreach (var token in Sequence.Skip(promptLength))
        {
            decoder.Step(token, logits);
            decoded.Add(logits.ToArray());
        }
        Assert.Equal(Sequence.Length, decoder.Length);
        var difference = MaxDifference(decoded.ToArray(), reference[(promptLength - 1)..]);
        Assert.True(difference <= 1e-4, $"max |Δ logit| = {difference}");
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void GreedyTokensEqualTheTorchPath(string config)
    {
        using var model = Create(config);
        var prompt = Sequence.Take(5).ToArray();
        var greedy = new GenerationOptions { MaxTokens = 32, Temperature = 0, RepetitionPenalty = 1.3 };
        var generator = new TokenGenerator(model);
        var torch = generator.Generate(prompt, greedy with { Decoder = DecoderImplementation.Torch }).ToArray();
        Assert.Equal(32, torch.Length);
        Assert.Equal(torch, generator.Generate(prompt, greedy with { Decoder = DecoderImplementation.Fast }).ToArray());
    }

    [Fact]
    public void AFullContextIsAClearError()
    {
        using var model = TinyModel.Create();
        using var decoder = new CpuDecoder(model, maxLength: 4, threads: 2);
        var logits = new float[model.Config.VocabSize];
        for (var i = 0; i < 4; i++) decoder.Step(i + 1, logits);
        var error = Assert.Throws<InvalidOperationException>(() => decoder.Step(1, logits));
        Assert.Contains("context is full", error.Message);
        decoder.Reset();
        Assert.Throws<InvalidOperationException>(() => decoder.Prefill([1, 2, 3, 4, 5], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CpuDecoder(model, maxLength: model.Config.MaxPositionEmbeddings + 1));
    }

    [Fact]
    public void LoraModelsStayOnTheTorchPath()
    {
        using var model = TinyModel.Create(new ModelOptions { LinearFactory = new LoraLinearFactory() });
        Assert.False(CpuDecoder.Supports(model, out var reason));
        Assert.Contains("LoraLinear", reason);
        var greedy = new GenerationOptions { MaxTokens = 4, Temperature = 0 };
        Assert.Equal(4, new TokenGenerator(model).Generate(Sequence, greedy).Count());
        Assert.Throws<NotSupportedException>(() => new TokenGenerator(model).Generate(Sequence, greedy with { Decoder = DecoderImplementation.Fast }));
    }
}
