using System.Text.Json;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>The mixture-of-experts switch: Mixtral / Qwen2-MoE / Qwen3-MoE configs and names, top-k routing against a
/// per-token loop, dispatch that skips unused experts, the router losses against hand computations.</summary>
public class SparseMoeTests
{
    /// <summary>4 experts, top-2, on the tiny shape; Qwen2-MoE with a 24-wide shared expert and layer 0 dense.</summary>
    internal static ModelConfig Moe(string modelType, ModelConfig? config = null) => ModelFamily.Find(modelType).Apply((config ?? TinyModels.Config) with
    {
        NumLocalExperts = modelType == "mixtral" ? 4 : null, NumExperts = modelType == "mixtral" ? null : 4, NumExpertsPerTok = 2,
        MoeIntermediateSize = modelType == "mixtral" ? null : 16, SharedExpertIntermediateSize = modelType == "qwen2_moe" ? 24 : null,
        MlpOnlyLayers = modelType == "qwen2_moe" ? [0] : null, NormTopkProb = modelType == "qwen3_moe" ? true : null,
        RouterAuxLossCoef = 0.02, RouterZLossCoef = 0.001,
    });

    [Theory]
    [InlineData("mixtral")]
    [InlineData("qwen2_moe")]
    [InlineData("qwen3_moe")]
    public void The_layout_is_the_models_own_state_dict(string modelType)
    {
        HostileModelFileTests.AssertLayoutIsTheStateDict(Moe(modelType, TinyModels.Config with { TieWordEmbeddings = false }));
    }

    [Fact]
    public void Each_family_names_its_experts_as_transformers_does()
    {
        var mixtral = ModelLayout.Parameters(Moe("mixtral")).Select(p => p.Name).ToHashSet();
        var qwen2 = ModelLayout.Parameters(Moe("qwen2_moe")).Select(p => p.Name).ToHashSet();
        Assert.Contains("model.layers.0.block_sparse_moe.gate.weight", mixtral);
        Assert.Contains("model.layers.1.block_sparse_moe.experts.3.w1.weight", mixtral);
        Assert.Contains("model.layers.1.block_sparse_moe.experts.3.w2.weight", mixtral);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", qwen2); // mlp_only_layers [0]: dense
        Assert.Contains("model.layers.1.mlp.experts.0.down_proj.weight", qwen2);
        Assert.Contains("model.layers.1.mlp.shared_expert.up_proj.weight", qwen2);
        Assert.Contains("model.layers.1.mlp.shared_expert_gate.weight", qwen2);
        Assert.Contains("model.layers.1.self_attn.q_proj.bias", qwen2);
    }

    [Theory]
    [InlineData("mixtral")]
    [InlineData("qwen2_moe")]
    [InlineData("qwen3_moe")]
    public void The_sparse_layer_equals_a_loop_over_tokens_and_their_chosen_experts(string modelType)
    {
        manual_seed(7);
        using var moe = new SparseMoe(Moe(modelType), new ModelOptions(), "mlp", null);
        using var x = randn(3, 5, 32);
        using var _ = no_grad();
        using var fast = moe.forward(x);
        using var naive = moe.NaiveForward(x);
        Assert.Equal(new long[] { 3, 5, 32 }, fast.shape);
        Assert.True(fast.allclose(naive, rtol: 0, atol: 1e-6), $"max difference {(fast - naive).abs().max().item<float>()}");
    }

    [Fact]
    public void Dispatch_runs_only_the_experts_tokens_were_routed_to_on_their_rows()
    {
        using var x = arange(8, ScalarType.Float32).view(4, 2);                   // 4 tokens, H = 2
        using var experts = tensor(new long[] { 2, 0, 2, 0, 0, 2, 2, 0 }, [4, 2]); // experts 1 and 3 get nothing
        using var weights = full(4, 2, 0.5f);
        var calls = new List<(int Expert, long Rows)>();
        using var y = ExpertRouting.Dispatch(x, weights, experts, 4, (e, rows, _) => { calls.Add((e, rows.shape[0])); return rows * (e + 1); });
        Assert.Equal([(0, 4L), (2, 4L)], calls);
        using var expected = x * 0.5 * (1 + 3);                                     // each token: ½·1·x + ½·3·x
        Assert.True(y.allclose(expected, rtol: 0, atol: 0));
    }

    [Fact]
    public void Routing_takes_the_top_k_of_the_softmax_and_renormalises_where_asked()
    {
        using var logits = tensor(new float[] { 0, 1, 2, 3 }, [1, 4]);
        double[] p = [.. new[] { 0.0, 1, 2, 3 }.Select(Math.Exp)];
        var total = p.Sum();
        var (w, e) = ExpertRouting.Route(logits, 2, renormalize: false, ScalarType.Float32);
        Assert.Equal(new long[] { 3, 2 }, e.data<long>().ToArray());
        Assert.Equal(p[3] / total, w[0, 0].item<float>(), 6);
        var (wn, _) = ExpertRouting.Route(logits, 2, renormalize: true, ScalarType.Float32);
        Assert.Equal(p[3] / (p[3] + p[2]), wn[0, 0].item<float>(), 6);
    }

    [Fact]
    public void The_load_balancing_and_z_losses_equal_hand_computations()
    {
        float[,] l = { { 2, 0, 0 }, { 0, 1, 0 }, { 0, 0, 3 }, { 1, 1, 0 } }; // 4 tokens, 3 experts, top-2
        using var logits = tensor(l);
        var (n, experts, k) = (4, 3, 2);
        var share = new double[experts];
        var meanP = new double[experts];
        double z = 0;
        for (int t = 0; t < n; t++)
        {
            var row = Enumerable.Range(0, experts).Select(e => (double)l[t, e]).ToArray();
            var sum = row.Sum(Math.Exp);
            var probs = row.Select(v => Math.Exp(v) / sum).ToArray();
            for (int e = 0; e < experts; e++) meanP[e] += probs[e] / n;
            foreach (var e in Enumerable.Range(0, experts).OrderByDescending(e => probs[e]).ThenBy(e => e).Take(k)) share[e] += 1.0 / n;
            z += Math.Pow(Math.Log(sum), 2) / n;
        }
        var balance = experts * Enumerable.Range(0, experts).Sum(e => share[e] * meanP[e]);
        Assert.Equal(balance, ExpertRouting.LoadBalancingLoss(logits, k).item<float>(), 5);
        Assert.Equal(z, ExpertRouting.ZLoss(logits).item<float>(), 5);
    }

    [Fact]
    public void Load_balancing_is_per_layer_so_layers_collapsed_onto_different_experts_are_not_balanced()
    {
        // 3 tokens, 4 experts, top-2: layer A sends every token to experts 0 and 1, layer B to 2 and 3.
        using var a = tensor(new float[,] { { 10, 10, 0, 0 }, { 10, 10, 0, 0 }, { 10, 10, 0, 0 } });
        using var b = tensor(new float[,] { { 0, 0, 10, 10 }, { 0, 0, 10, 10 }, { 0, 0, 10, 10 } });
        using var stacked = ExpertRouting.LoadBalancingLoss(cat([a, b], 0), 2);  // transformers: shares summed over layers
        using var perLayer = ExpertRouting.LoadBalancingLoss([a, b], 2);
        Assert.Equal(2, stacked.item<float>(), 3);   // k: what perfectly uniform routing scores
        Assert.Equal(4, perLayer.item<float>(), 3);  // E · (1 · ½ + 1 · ½): each layer fully collapsed
        using var one = ExpertRouting.LoadBalancingLoss([a], 2);
        using var single = ExpertRouting.LoadBalancingLoss(a, 2);
        Assert.Equal(single.item<float>(), one.item<float>()); // one layer: the two rules agree
    }

    [Fact]
    public void The_router_loss_reaches_the_router_through_backward()
    {
        var config = Moe("mixtral");
        using var model = TinyModels.Create(config);
        using var ids = TinyModels.Ids();
        using var logits = model.forward(ids);
        Assert.Equal(2, model.Router!.Logits.Count); // one (N, E) per sparse layer
        using var loss = model.RouterLoss()!;
        loss.backward();
        var gate = model.named_parameters().Single(p => p.name == "model.layers.0.block_sparse_moe.gate.weight").parameter;
        Assert.True(gate.grad is not null && gate.grad.abs().sum().item<float>() > 0);
        var counts = model.TokensPerExpert();
        Assert.All(counts, layer => Assert.Equal(14 * 2, layer.Sum()));
        using (no_grad()) model.forward(ids);
        Assert.Empty(model.Router.Logits); // inference forwards record nothing unless asked
    }

    [Fact]
    public void A_top_k_the_router_cannot_serve_is_one_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() => (Moe("mixtral") with { NumExpertsPerTok = 5 }).Validate());
        Assert.Equal("config: num_experts_per_tok = 5 exceeds num_local_experts = 4: the router cannot route a token to more experts than there are",
            error.Message);
        var dense = Assert.Throws<ArgumentException>(() => (TinyModels.Config with { NumExperts = 4 }).Validate());
        Assert.Contains("num_experts is not supported for model_type 'llama'", dense.Message);
        Assert.Throws<ArgumentException>(() => (Moe("qwen3_moe") with { NumExperts = 0 }).Validate());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    public void A_dense_layer_outside_the_model_is_one_clear_error(int layer)
    {
        var error = Assert.Throws<ArgumentException>(() => (Moe("qwen2_moe") with { MlpOnlyLayers = [0, layer] }).Validate());
        Assert.Equal($"config: mlp_only_layers must name layers 0 to num_hidden_layers - 1 = 1 (got [0, {layer}])", error.Message);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-0.01)]
    public void A_router_loss_weight_that_is_not_a_finite_non_negative_number_is_one_clear_error(double coef)
    {
        var aux = Assert.Throws<ArgumentException>(() => (Moe("mixtral") with { RouterAuxLossCoef = coef }).Validate());
        Assert.StartsWith("config: router_aux_loss_coef must be a finite number, not negative", aux.Message);
        var z = Assert.Throws<ArgumentException>(() => (Moe("mixtral") with { RouterZLossCoef = coef }).Validate());
        Assert.StartsWith("config: router_z_loss_coef must be a finite number, not negative", z.Message);
    }

    [Fact]
    public void Hugging_face_config_json_of_each_family_reads_and_writes_its_keys()
    {
        var qwen2 = JsonSerializer.Deserialize<ModelConfig>("""
            {"architectures":["Qwen2MoeForCausalLM"],"model_type":"qwen2_moe","decoder_sparse_step":1,"hidden_size":2048,
             "intermediate_size":5632,"moe_intermediate_size":1408,"mlp_only_layers":[],"norm_topk_prob":false,"num_experts":60,
             "num_experts_per_tok":4,"shared_expert_intermediate_size":5632,"output_router_logits":false,"router_aux_loss_coef":0.001,
             "num_attention_heads":16,"num_key_value_heads":16,"num_hidden_layers":24,"vocab_size":151936,"use_sliding_window":false}
            """)!;
        qwen2.Validate();
        Assert.Equal((60, 4, 1408, 5632, false, 24L), (qwen2.ExpertCount, qwen2.ExpertsPerToken, qwen2.ExpertIntermediateSize,
            qwen2.SharedExpertSize, qwen2.RenormalizeTopK, ModelLayout.SparseLayerCount(qwen2)));
        var mixtral = JsonSerializer.Deserialize<ModelConfig>("""
            {"architectures":["MixtralForCausalLM"],"model_type":"mixtral","num_local_experts":8,"num_experts_per_tok":2,
             "router_aux_loss_coef":0.02,"router_jitter_noise":0.0,"sliding_window":null,"intermediate_size":14336}
            """)!;
        mixtral.Validate();
        Assert.Equal((8, 14336, true), (mixtral.ExpertCount, mixtral.ExpertIntermediateSize, mixtral.RenormalizeTopK));
        var written = JsonSerializer.Serialize(mixtral, new JsonSerializerOptions
            { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });
        Assert.Contains("\"num_local_experts\":8", written);
        Assert.DoesNotContain("\"num_experts\"", written);
    }

    [Theory]
    [InlineData("mixtral")]
    [InlineData("qwen2_moe")]
    public void A_saved_folder_loads_back_with_the_same_logits(string modelType)
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create(Moe(modelType));
        ModelFolder.Save(model, dir);
        using var loaded = ModelFolder.Load(dir);
        Assert.Equal(model.Config with { TorchDtype = "float32" }, loaded.Config);
        using var ids = TinyModels.Ids();
        using var _ = no_grad();
        Assert.True(model.forward(ids).allclose(loaded.forward(ids), rtol: 0, atol: 0));
    }

    [Fact]
    public void Lora_targets_the_router_and_experts_by_their_names()
    {
        using var lora = Substrate.Models.Lora.LoraModel.Create(Moe("mixtral"));
        lora.AddAdapter("x", new Substrate.Models.Lora.LoraAdapterConfig { TargetModules = ["gate", "w1"] }, seed: 3);
        var paths = lora.AdapterParameters("x").Select(p => p.Name).Where(n => n.Contains("lora_A")).ToList();
        Assert.Equal(2 * (1 + 4), paths.Count); // 2 layers × (router + 4 experts' w1)
        Assert.Contains(paths, n => n.Contains("block_sparse_moe.gate.lora_A"));
        Assert.Contains(paths, n => n.Contains("block_sparse_moe.experts.3.w1.lora_A"));
        using var ids = TinyModels.Ids();
        using var _ = no_grad();
        using var logits = lora.Model.forward(ids); // B = 0 at creation: the base's logits, through the wrapped router and experts
        Assert.Equal(new long[] { 2, 7, 64 }, logits.shape);
    }
}
