using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>The family switches (Qwen2 q/k/v biases, Qwen3 q/k norms, Mistral's sliding window, rope scaling): read from
/// config.json through the one family table, refused where not implemented, and the forward's paths agreeing.</summary>
public class ModelFamilyTests
{
    private static ModelConfig Family(string modelType, ModelConfig? config = null) => ModelFamily.Find(modelType).Apply(config ?? TinyModels.Config);

    /// <summary>Gemma 3 with every switch biting on the tiny shape: layers alternate sliding (local base 100) and full,
    /// the attention scale is 6^−½ where head_dim is 8, full layers take linear rope scaling.</summary>
    private static ModelConfig Gemma3(ModelConfig config) => Family("gemma3_text", config with
    {
        SlidingWindowPattern = 2, QueryPreAttnScalar = 6, RopeLocalBaseFreq = 100, RopeScaling = new RopeScaling { RopeType = "linear", Factor = 2 },
    });

    private static ModelConfig Parse(string json) => JsonSerializer.Deserialize<ModelConfig>(json)!;

    [Fact]
    public void Each_family_sets_its_switches_from_its_config_json()
    {
        var qwen2 = Parse("""
            {"model_type":"qwen2","architectures":["Qwen2ForCausalLM"],"sliding_window":32768,"use_sliding_window":false,"max_window_layers":21}
            """);
        var qwen3 = Parse("""{"model_type":"qwen3","architectures":["Qwen3ForCausalLM"],"head_dim":128,"attention_bias":false}""");
        var mistral = Parse("""{"model_type":"mistral","architectures":["MistralForCausalLM"],"sliding_window":4096}""");
        var llama = Parse("""{"model_type":"llama","architectures":["LlamaForCausalLM"],"pretraining_tp":1}""");
        Assert.Equal((true, false, (int?)null), (qwen2.QkvBias, qwen2.QkNorm, qwen2.SlidingWindow));
        Assert.Equal((false, true, (int?)null), (qwen3.QkvBias, qwen3.QkNorm, qwen3.SlidingWindow));
        Assert.Equal((false, false, (int?)4096), (mistral.QkvBias, mistral.QkNorm, mistral.SlidingWindow));
        Assert.Equal((false, false, (int?)null), (llama.QkvBias, llama.QkNorm, llama.SlidingWindow));
        foreach (var c in new[] { qwen2, qwen3, mistral, llama }) c.Validate();
        Assert.False(llama.TieWordEmbeddings || llama.NormOffset || llama.PostNorms || llama.ScaledEmbeddings);
        Assert.Equal("silu", llama.Activation);
    }

    /// <summary>Phi-3 mini 128k's config.json keys (factors shortened to its head_dim / 2 here: hidden 64 over 4 heads).</summary>
    [Fact]
    public void Phi3_sets_its_switches_from_its_config_json()
    {
        var factors = string.Join(",", Enumerable.Repeat("1.5", 8));
        var phi3 = Parse($$"""
            {"architectures":["Phi3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":1,"embd_pdrop":0.0,
             "eos_token_id":32000,"hidden_act":"silu","hidden_size":64,"initializer_range":0.02,"intermediate_size":128,
             "max_position_embeddings":131072,"model_type":"phi3","num_attention_heads":4,"num_hidden_layers":2,"num_key_value_heads":4,
             "original_max_position_embeddings":4096,"pad_token_id":32000,"resid_pdrop":0.0,"rms_norm_eps":1e-05,
             "rope_scaling":{"long_factor":[{{factors}}],"short_factor":[{{factors}}],"type":"longrope"},"rope_theta":10000.0,
             "sliding_window":262144,"tie_word_embeddings":false,"torch_dtype":"bfloat16","use_cache":true,"vocab_size":32064}
            """);
        phi3.Validate();
        Assert.True(phi3.FusedProjections && !phi3.TieWordEmbeddings && !phi3.QkNorm);
        Assert.Equal((4096, 262144), (phi3.LongRopeFrom, phi3.SlidingWindow));
        Assert.Equal(Math.Sqrt(1 + Math.Log(32) / Math.Log(4096)), phi3.RopeAttentionFactor, 12);
        Assert.Equal(["model.layers.0.self_attn.qkv_proj.weight", "model.layers.0.mlp.gate_up_proj.weight"],
            ModelLayout.Parameters(phi3).Select(p => p.Name).Where(n => n.Contains("qkv") || n.Contains("gate_up")).Take(2));
        Assert.Equal(ModelLayout.ParameterCount(phi3), ModelLayout.Parameters(phi3).Sum(p => p.Shape.Aggregate(1L, (a, b) => a * b)));
    }

    /// <summary>longrope: a forward whose positions stay within original_max_position_embeddings rotates with the short factors,
    /// one that passes it with the long ones, all positions, cos and sin times the attention factor either way.</summary>
    [Fact]
    public void Longrope_takes_the_long_factors_once_a_forward_passes_the_original_context()
    {
        static ModelConfig Phi3(double shortFactor, double longFactor) => ModelFamily.Phi3.Apply(TinyModels.Config with
        {
            OriginalMaxPositionEmbeddings = 4, RopeScaling = new RopeScaling
            { RopeType = "longrope", ShortFactor = Enumerable.Repeat(shortFactor, 4).ToArray(), LongFactor = Enumerable.Repeat(longFactor, 4).ToArray() },
        });
        using var both = TinyModels.Create(Phi3(1, 3));
        using var shortOnly = TinyModels.Create(Phi3(1, 1));
        using var longOnly = TinyModels.Create(Phi3(3, 3));
        using var ids = TinyModels.Ids();
        using var within = both.forward(ids.narrow(1, 0, 4));
        using var withinExpected = shortOnly.forward(ids.narrow(1, 0, 4));
        using var past = both.forward(ids);
        using var pastExpected = longOnly.forward(ids);
        Assert.True(within.allclose(withinExpected, rtol: 0, atol: 0) && past.allclose(pastExpected, rtol: 0, atol: 0));
        Assert.False(past.narrow(1, 0, 4).allclose(within, rtol: 0, atol: 1e-3));
        using var plain = TinyModels.Create(Phi3(1, 1) with { MaxPositionEmbeddings = 4, OriginalMaxPositionEmbeddings = 4 }); // factor 1: no scaling
        using var plainLogits = plain.forward(ids.narrow(1, 0, 4));
        Assert.False(plainLogits.allclose(within, rtol: 0, atol: 1e-3)); // the attention factor √(1 + ln 8 / ln 4) bites
    }

    /// <summary>Gemma 3 1B's config.json (as shipped: no tie_word_embeddings, hidden_activation, sliding_window_pattern 6).</summary>
    [Fact]
    public void Gemma3_sets_its_switches_from_its_config_json()
    {
        var gemma = Parse("""
            {"architectures":["Gemma3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"attn_logit_softcapping":null,
             "bos_token_id":2,"cache_implementation":"hybrid","eos_token_id":[1,106],"final_logit_softcapping":null,"head_dim":256,
             "hidden_activation":"gelu_pytorch_tanh","hidden_size":1152,"initializer_range":0.02,"intermediate_size":6912,
             "max_position_embeddings":32768,"model_type":"gemma3_text","num_attention_heads":4,"num_hidden_layers":26,
             "num_key_value_heads":1,"pad_token_id":0,"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_local_base_freq":10000,
             "rope_scaling":null,"rope_theta":1000000,"sliding_window":512,"sliding_window_pattern":6,"torch_dtype":"bfloat16",
             "transformers_version":"4.50.0.dev0","use_cache":true,"vocab_size":262144}
            """);
        gemma.Validate();
        Assert.True(gemma.TieWordEmbeddings && gemma.NormOffset && gemma.PostNorms && gemma.ScaledEmbeddings && gemma.QkNorm);
        Assert.Equal("gelu_pytorch_tanh", gemma.Activation);
        Assert.Equal([5, 11, 17, 23], Enumerable.Range(0, 26).Where(l => gemma.WindowOf(l) is null));
        Assert.Equal(512, gemma.WindowOf(0));
        Assert.Equal((10000.0, 1 / 16.0), (gemma.LocalRopeTheta, gemma.AttentionScale));
        Assert.Null(JsonNode.Parse(JsonSerializer.Serialize(gemma))!["hidden_act"]);
        var typed = gemma with { LayerTypeNames = Enumerable.Range(0, 26).Select(l => l % 2 == 0 ? "full_attention" : "sliding_attention").ToArray() };
        Assert.Equal([1, 3, 5], Enumerable.Range(0, 6).Where(typed.SlidingLayer));
        Assert.Equal(ModelLayout.ParameterCount(gemma), ModelLayout.Parameters(gemma).Sum(p => p.Shape.Aggregate(1L, (a, b) => a * b)));
    }

    [Fact]
    public void A_saved_config_keeps_the_familys_keys()
    {
        var json = """
            {"model_type":"qwen2","architectures":["Qwen2ForCausalLM"],"sliding_window":32768,"use_sliding_window":false,
             "max_window_layers":21,"transformers_version":"4.43.1"}
            """;
        var written = JsonNode.Parse(JsonSerializer.Serialize(Parse(json)))!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(json)!.AsObject()) Assert.Equal(value!.ToJsonString(), written[key]!.ToJsonString());
    }

    [Theory]
    [InlineData("""{"model_type":"gemma"}""", "model_type 'gemma'")]
    [InlineData("""{"model_type":"qwen2","architectures":["LlamaForCausalLM"]}""", "architectures 'LlamaForCausalLM'")]
    [InlineData("""{"rope_scaling":{"rope_type":"yarn","factor":4}}""", "type 'yarn'")]
    [InlineData("""{"rope_scaling":{"type":"linear"}}""", "factor")]
    [InlineData("""{"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4}}""", "original_max_position_embeddings")]
    [InlineData("""{"rope_scaling":{"rope_type":"linear","factor":2,"beta_fast":32}}""", "key 'beta_fast'")]
    [InlineData("""{"model_type":"qwen2","architectures":["Qwen2ForCausalLM"],"use_sliding_window":true}""", "use_sliding_window")]
    [InlineData("""{"layer_types":["sliding_attention","full_attention"]}""", "layer_types")]
    [InlineData("""{"attention_dropout":0.1}""", "attention_dropout")]
    [InlineData("""{"max_position_embeddings":64,"rope_scaling":{"rope_type":"dynamic","factor":2,"original_max_position_embeddings":32}}""", "dynamic")]
    [InlineData("""{"partial_rotary_factor":0.5}""", "partial_rotary_factor")]
    [InlineData("""{"model_type":"qwen2","architectures":["Qwen2ForCausalLM"],"use_mrope":true}""", "use_mrope")]
    [InlineData("""{"attention_bias":true}""", "attention_bias")]
    [InlineData("""{"query_pre_attn_scalar":64}""", "query_pre_attn_scalar")]
    [InlineData("""{"model_type":"phi3","architectures":["Phi3ForCausalLM"],"rope_scaling":{"type":"longrope","short_factor":[1]}}""", "long")]
    [InlineData("""{"model_type":"phi3","architectures":["Phi3ForCausalLM"],"resid_pdrop":0.1}""", "resid_pdrop")]
    [InlineData("""{"hidden_act":"gelu"}""", "hidden_act 'gelu'")]
    [InlineData("""{"model_type":"gemma3_text","architectures":["Gemma3ForCausalLM"],"hidden_activation":"gelu_pytorch_tanh","final_logit_softcapping":30.0}""",
        "final_logit_softcapping")]
    [InlineData("""{"model_type":"gemma3_text","architectures":["Gemma3ForCausalLM"],"hidden_activation":"gelu_pytorch_tanh","attn_logit_softcapping":50.0}""",
        "attn_logit_softcapping")]
    [InlineData("""{"model_type":"gemma3_text","architectures":["Gemma3ForCausalLM"]}""", "hidden_act 'silu'")]
    [InlineData("""{"model_type":"gemma3_text","architectures":["Gemma3ForCausalLM"],"hidden_activation":"gelu_pytorch_tanh","layer_types":["x"]}""",
        "layer_types")]
    public void Config_keys_that_change_the_math_and_are_not_implemented_are_refused(string json, string key)
    {
        var e = Assert.Throws<ArgumentException>(() => Parse(json).Validate());
        Assert.Contains(key, e.Message);
    }

    /// <summary>HF's llama3 rule on Llama 3.1's own numbers (θ 500000, hd 128, factor 8, low 1, high 4, original 8192):
    /// wavelengths under 2048 keep their frequency, over 8192 divide it by 8, between blend.</summary>
    [Fact]
    public void Llama3_rope_scaling_keeps_high_divides_low_and_blends_the_middle_frequencies()
    {
        var scaling = new RopeScaling { RopeType = "llama3", Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 8192 };
        var plain = Enumerable.Range(0, 64).Select(i => 1.0 / Math.Pow(500000, 2.0 * i / 128)).ToArray();
        var scaled = scaling.Scale(plain);
        for (int i = 0; i < 64; i++)
        {
            var wavelength = 2 * Math.PI / plain[i];
            var smooth = (8192 / wavelength - 1) / 3;
            var expected = wavelength < 2048 ? plain[i] : wavelength > 8192 ? plain[i] / 8 : (1 - smooth) * plain[i] / 8 + smooth * plain[i];
            Assert.Equal(expected, scaled[i], 15);
        }
        Assert.Equal(plain[0], scaled[0]);
        Assert.Equal(plain[63] / 8, scaled[63]);
        Assert.Equal(plain.Select(f => f / 4), new RopeScaling { RopeType = "linear", Factor = 4 }.Scale(plain));
        Assert.Equal(plain, new RopeScaling { RopeType = "dynamic", Factor = 4 }.Scale(plain));
    }

    /// <summary>Explicit factors (a GGUF file's rope_freqs) divide the plain frequencies whatever the type says, and a model
    /// built with llama3's own factors as explicit ones gives the llama3 model's logits (to the factors' float32 rounding).</summary>
    [Fact]
    public void Explicit_frequency_factors_divide_the_plain_frequencies_in_the_model()
    {
        var llama3 = new RopeScaling { RopeType = "llama3", Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 16 };
        var config = TinyModels.Config with { RopeScaling = llama3 };
        var plain = RopeScaling.Frequencies(config.HeadDim, config.RopeTheta, null);
        var scaled = RopeScaling.Frequencies(config.HeadDim, config.RopeTheta, llama3);
        var factors = plain.Select((f, i) => (float)(f / scaled[i])).ToArray();
        Assert.Contains(factors, f => f != 1 && f != 8);
        Assert.Equal(plain.Select((f, i) => f / factors[i]), (llama3 with { FrequencyFactors = factors }).Scale(plain));
        Assert.Equal(plain.Select((f, i) => f / factors[i]), new RopeScaling { FrequencyFactors = factors }.Scale(plain));

        using var expected = TinyModels.Create(config);
        using var fromFactors = TinyModels.Create(config with { RopeScaling = new RopeScaling { FrequencyFactors = factors } });
        using var unscaled = TinyModels.Create(config with { RopeScaling = null });
        using var ids = TinyModels.Ids();
        using var want = expected.forward(ids);
        using var got = fromFactors.forward(ids);
        using var plainLogits = unscaled.forward(ids);
        var (difference, unscaledDifference) = ((want - got).abs().max().item<float>(), (want - plainLogits).abs().max().item<float>());
        Assert.True(difference < 1e-3f * unscaledDifference, $"explicit factors {difference}, plain rotary {unscaledDifference} from llama3's logits");
    }

    /// <summary>Linear scaling by 2 puts position 2p where plain rotary puts p: the logits of ids at positions 0, 2, 4, …
    /// (packed positions) equal the plain model's at 0, 1, 2, ….</summary>
    [Fact]
    public void Linear_rope_scaling_is_position_interpolation()
    {
        using var plain = TinyModels.Create();
        using var scaled = TinyModels.Create(TinyModels.Config with { RopeScaling = new RopeScaling { RopeType = "linear", Factor = 2 } });
        using var ids = TinyModels.Ids();
        using var expected = plain.forward(ids);
        var (b, t) = (ids.shape[0], ids.shape[1]);
        using var positions = (arange(t, ScalarType.Int64) * 2).expand(b, t).contiguous();
        using var mask = ones(t, t, ScalarType.Bool).tril().expand(b, 1, t, t).contiguous();
        using var actual = scaled.forward(ids, new PackedLayout(positions, mask));
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5));
    }

    /// <summary>A tiny model of the family with its biases and norm weights random too (a fresh model has them 0 and 1).</summary>
    private static LlamaForCausalLM Randomized(ModelConfig config, ModelOptions? options = null)
    {
        var model = TinyModels.Create(config, options);
        using var _ = no_grad();
        manual_seed(99);
        foreach (var (_, p) in model.named_parameters())
            if (p.dim() == 1) p.add_(randn_like(p) * 0.3);
        return model;
    }

    public static TheoryData<string, int?> Families =>
        new() { { "qwen2", null }, { "qwen3", null }, { "mistral", 3 }, { "llama", null }, { "gemma3_text", 3 }, { "phi3", 3 } };

    /// <summary>The fused and eager attention, the training forward (stacked projection, fused kernels), the KV cache
    /// (prefill, then one token at a time) and batched decode (a position per row) all give the plain forward's logits.</summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void Every_path_of_the_forward_agrees_for_each_family(string modelType, int? window)
    {
        var config = Family(modelType, TinyModels.Config with { HeadDimOverride = 8, SlidingWindowSize = window });
        if (modelType == "gemma3_text") config = Gemma3(config);
        using var eager = Randomized(config, new ModelOptions { Attention = AttentionImplementation.Eager });
        using var fused = Randomized(config);
        using var ids = TinyModels.Ids();
        Tensor expected;
        using (no_grad()) expected = eager.forward(ids);
        using var _ = expected;
        using (var actual = fused.forward(ids)) Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5));
        using (var training = eager.forward(ids)) Assert.True(training.allclose(expected, rtol: 0, atol: 1e-5)); // grad on: stacked q/k/v
        using var cache = fused.CreateCache(2);
        using (no_grad())
        {
            using var prefill = fused.forward(ids.narrow(1, 0, 4), cache, 0);
            Assert.True(prefill.allclose(expected.narrow(1, 0, 4), rtol: 0, atol: 1e-5));
            using var step = fused.forward(ids.narrow(1, 4, 1), cache, 4);
            Assert.True(step.allclose(expected.narrow(1, 4, 1), rtol: 0, atol: 1e-5));
            using var rows = fused.forward(ids.narrow(1, 5, 1), cache, [5L, 5L]);
            Assert.True(rows.allclose(expected.narrow(1, 5, 1), rtol: 0, atol: 1e-5));
            var oneExamplePerRow = PackedLayout.FromSegments(new long[ids.numel()], (int)ids.shape[0], (int)ids.shape[1], ids.device);
            using var packed = fused.forward(ids, oneExamplePerRow);
            Assert.True(packed.allclose(expected, rtol: 0, atol: 1e-5));
        }
    }

    /// <summary>A Substrate folder of a family is that family's HF folder: its model_type, architectures and other keys in
    /// config.json, its tensors (q_proj.bias, q_norm.weight) in model.safetensors, and it loads back to the same logits.</summary>
    [Theory]
    [InlineData("qwen2", "Qwen2ForCausalLM", "model.layers.1.self_attn.v_proj.bias")]
    [InlineData("qwen3", "Qwen3ForCausalLM", "model.layers.1.self_attn.k_norm.weight")]
    [InlineData("mistral", "MistralForCausalLM", "model.layers.1.self_attn.o_proj.weight")]
    [InlineData("gemma3_text", "Gemma3ForCausalLM", "model.layers.1.post_feedforward_layernorm.weight")]
    [InlineData("phi3", "Phi3ForCausalLM", "model.layers.1.mlp.gate_up_proj.weight")]
    public void A_saved_family_folder_keeps_its_keys_and_tensors_and_loads_back(string modelType, string architecture, string tensorName)
    {
        var config = ModelFamily.Find(modelType).Apply(Parse($$"""{"model_type":"{{modelType}}","architectures":["{{architecture}}"],"sliding_window":4,"max_window_layers":2}""")
            with { VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, IntermediateSize = 64,
                   MaxPositionEmbeddings = 32, HeadDimOverride = 8, TieWordEmbeddings = modelType == "qwen2" });
        using var model = Randomized(config);
        var dir = TinyModels.Dir();
        ModelFolder.Save(model, dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ModelFolder.ConfigFile)))!;
        Assert.Equal(modelType, (string?)json["model_type"]);
        Assert.Equal(architecture, (string?)json["architectures"]![0]);
        Assert.Equal(2, (int)json["max_window_layers"]!);
        using (var reader = new SafetensorsReader(Path.Combine(dir, ModelFolder.WeightsFile))) Assert.True(reader.Contains(tensorName));
        using var loaded = ModelFolder.Load(dir);
        Assert.Equal(config with { TorchDtype = "float32" }, loaded.Config);
        using var ids = TinyModels.Ids();
        using var expected = model.forward(ids);
        using var actual = loaded.forward(ids);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 0));
    }

    /// <summary>With one layer and a window of 3, the logits at position p depend on tokens p−2..p only — and rotary is
    /// relative — so they equal the last logits of those three tokens alone.</summary>
    [Fact]
    public void The_sliding_window_hides_keys_further_back_than_the_window()
    {
        var config = Family("mistral", TinyModels.Config with { NumHiddenLayers = 1, SlidingWindowSize = 3 });
        using var model = Randomized(config);
        using var ids = TinyModels.Ids();
        using var all = model.forward(ids);
        for (int p = 2; p < 7; p++)
        {
            using var alone = model.forward(ids.narrow(1, p - 2, 3));
            Assert.True(alone.select(1, 2).allclose(all.select(1, p), rtol: 0, atol: 1e-5), $"position {p}");
        }
        using var full = Randomized(config with { SlidingWindowSize = null });
        using var unwindowed = full.forward(ids);
        Assert.True(unwindowed.narrow(1, 0, 3).allclose(all.narrow(1, 0, 3), rtol: 0, atol: 1e-6)); // within the window: the same
        Assert.False(unwindowed.narrow(1, 3, 4).allclose(all.narrow(1, 3, 4), rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void Qwen2_biases_and_qwen3_norms_change_the_logits()
    {
        using var ids = TinyModels.Ids();
        using var plain = Randomized(TinyModels.Config with { HeadDimOverride = 8 });
        using var expected = plain.forward(ids);
        foreach (var modelType in new[] { "qwen2", "qwen3" })
        {
            using var family = Randomized(Family(modelType, TinyModels.Config with { HeadDimOverride = 8 }));
            using var actual = family.forward(ids);
            Assert.False(actual.allclose(expected, rtol: 0, atol: 1e-3), modelType);
        }
    }
}

/// <summary>Gemma 3's switches one at a time, each against the math it names.</summary>
public class Gemma3SwitchTests
{
    private static ModelConfig Gemma3(ModelConfig? config = null) => ModelFamily.Gemma3.Apply((config ?? TinyModels.Config) with { SlidingWindowSize = 3 });

    /// <summary>Fresh Gemma norms hold 0 (scale 1 + 0); the embeddings enter scaled by √H: with one layer whose attention and
    /// MLP outputs are zeroed, the logits are norm(√H·e)·Eᵀ, and the √H cancels in the norm up to eps.</summary>
    [Fact]
    public void Gemma_norms_start_at_zero_and_scale_by_one_plus_weight()
    {
        using var model = TinyModels.Create(Gemma3(TinyModels.Config with { NumHiddenLayers = 1 }));
        var state = model.state_dict();
        Assert.True(state["model.norm.weight"].eq(0).all().item<bool>());
        Assert.True(state["model.layers.0.self_attn.q_norm.weight"].eq(0).all().item<bool>());
        using var _ = no_grad();
        state["model.layers.0.post_attention_layernorm.weight"].fill_(-1); // 1 + w = 0: the attention's output is dropped
        state["model.layers.0.post_feedforward_layernorm.weight"].fill_(-1);
        state["model.norm.weight"].fill_(1);                                  // scale 2
        using var ids = TinyModels.Ids();
        using var logits = model.forward(ids);
        var e = state["model.embed_tokens.weight"];
        using var x = e.index_select(0, ids.reshape(-1)) * Math.Sqrt(32);
        using var normed = x * (x.square().mean([-1], keepdim: true) + 1e-5).rsqrt() * 2;
        using var expected = normed.matmul(e.t()).view(2, 7, 64);
        Assert.True(logits.allclose(expected, rtol: 0, atol: 1e-5));
    }

    /// <summary>GeGLU with the tanh GELU: the MLP's output is down(gelu_tanh(gate(x))·up(x)), where SwiGLU would use silu.</summary>
    [Fact]
    public void Gemma_mlp_is_geglu_with_the_tanh_gelu()
    {
        var config = Gemma3();
        using var mlp = new LlamaMlp(config, new ModelOptions(), "mlp");
        using var x = randn(2, 3, 32);
        var w = mlp.state_dict();
        using var gate = x.matmul(w["gate_proj.weight"].t());
        using var gelu = 0.5 * gate * (1 + (Math.Sqrt(2 / Math.PI) * (gate + 0.044715 * gate.pow(3))).tanh());
        using var expected = (gelu * x.matmul(w["up_proj.weight"].t())).matmul(w["down_proj.weight"].t());
        using var actual = mlp.call(x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5));
    }

    /// <summary>query_pre_attn_scalar is the attention's temperature: a model with scalar s equals one whose queries are
    /// scaled by √(hd/s) through q_norm (its weights 1 + w multiplied by that factor), at every position.</summary>
    [Fact]
    public void Query_pre_attn_scalar_sets_the_attention_scale()
    {
        using var scaled = TinyModels.Create(Gemma3(TinyModels.Config with { QueryPreAttnScalar = 2, HeadDimOverride = 8 }));
        using var plain = TinyModels.Create(Gemma3(TinyModels.Config with { QueryPreAttnScalar = 8, HeadDimOverride = 8 }));
        using (no_grad())
            foreach (var (name, p) in plain.named_parameters())
                if (name.EndsWith("q_norm.weight", StringComparison.Ordinal)) p.fill_(1); // 1 + 1 = 2 = √(8/2)
        using var ids = TinyModels.Ids();
        using var expected = scaled.forward(ids);
        using var actual = plain.forward(ids);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5));
    }
}
