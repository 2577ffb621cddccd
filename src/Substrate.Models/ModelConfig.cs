using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Models;

/// <summary>
/// The architecture of a Llama-family model, read from and written to a Hugging Face
/// <c>config.json</c>: property names are the HF keys. Immutable; runtime choices (device,
/// dtype, threads) live elsewhere (<see cref="ModelOptions"/>).
/// </summary>
public sealed record ModelConfig
{
    [JsonPropertyName("architectures")] public IReadOnlyList<string> Architectures { get; init; } = ["LlamaForCausalLM"];
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 32000;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 4096;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 32;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 32;
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; } = 32;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 11008;
    /// <summary>The MLP activation under the Llama key; null (not written) when the Gemma key <see cref="HiddenActivation"/> says it.</summary>
    [JsonPropertyName("hidden_act")] public string? HiddenAct { get => hiddenAct ?? (HiddenActivation is null ? "silu" : null); init => hiddenAct = value; }
    /// <summary>Gemma's key for the MLP activation (<c>gelu_pytorch_tanh</c>).</summary>
    [JsonPropertyName("hidden_activation")] public string? HiddenActivation { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary>lm_head is the embedding table; absent from config.json, the family's default (true for Gemma 3).</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get => tie ?? Family?.TiedByDefault == true; init => tie = value; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("head_dim")] public int? HeadDimOverride { get; init; }
    [JsonPropertyName("bos_token_id"), JsonConverter(typeof(TokenIdConverter))] public int? BosTokenId { get; init; }
    /// <summary>The end-of-sequence id; where config.json lists several (Llama 3), the first.</summary>
    [JsonPropertyName("eos_token_id"), JsonConverter(typeof(TokenIdConverter))] public int? EosTokenId { get; init; }
    /// <summary>Rotary scaling (<c>llama3</c>, <c>linear</c>, <c>dynamic</c>); null: plain rotary.</summary>
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    /// <summary>Mistral's sliding window: a query attends the keys of its last <c>sliding_window</c> positions
    /// (itself included); honoured where the family says so (<see cref="SlidingWindow"/>).</summary>
    [JsonPropertyName("sliding_window")] public int? SlidingWindowSize { get; init; }
    /// <summary>Qwen2/Qwen3's switch for their sliding window; only false (or absent) is supported.</summary>
    [JsonPropertyName("use_sliding_window")] public bool? UseSlidingWindow { get; init; }
    /// <summary>Dropout on attention probabilities while training (Qwen, Mistral); only 0 is supported.</summary>
    [JsonPropertyName("attention_dropout")] public double? AttentionDropout { get; init; }
    /// <summary>Gemma 3's attention scale: scores are q·k / √query_pre_attn_scalar (where the family reads it).</summary>
    [JsonPropertyName("query_pre_attn_scalar")] public double? QueryPreAttnScalar { get; init; }
    /// <summary>Gemma 3's rotary base for its sliding layers (rope_theta is the full layers').</summary>
    [JsonPropertyName("rope_local_base_freq")] public double? RopeLocalBaseFreq { get; init; }
    /// <summary>Gemma 3's older spelling of the layer types: every <c>sliding_window_pattern</c>-th layer is full attention.</summary>
    [JsonPropertyName("sliding_window_pattern")] public int? SlidingWindowPattern { get; init; }
    /// <summary>Per layer <c>sliding_attention</c> or <c>full_attention</c>.</summary>
    [JsonPropertyName("layer_types")] public IReadOnlyList<string>? LayerTypeNames { get; init; }
    /// <summary>Phi-3's context before longrope scaling (the factor is max_position_embeddings over it).</summary>
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>The share of each head that rotates; only 1 (all of it) is supported.</summary>
    [JsonPropertyName("partial_rotary_factor")] public double? PartialRotaryFactor { get; init; }
    /// <summary>Mixtral's expert count per sparse layer (Qwen MoE says <see cref="NumExperts"/>).</summary>
    [JsonPropertyName("num_local_experts")] public int? NumLocalExperts { get; init; }
    /// <summary>Qwen2-MoE / Qwen3-MoE's expert count per sparse layer.</summary>
    [JsonPropertyName("num_experts")] public int? NumExperts { get; init; }
    /// <summary>Top-k: the experts each token is routed to.</summary>
    [JsonPropertyName("num_experts_per_tok")] public int? NumExpertsPerTok { get; init; }
    /// <summary>Qwen MoE's expert width (Mixtral's experts are intermediate_size wide).</summary>
    [JsonPropertyName("moe_intermediate_size")] public int? MoeIntermediateSize { get; init; }
    /// <summary>Qwen2-MoE's always-on expert, gated by a sigmoid; absent or 0: none.</summary>
    [JsonPropertyName("shared_expert_intermediate_size")] public int? SharedExpertIntermediateSize { get; init; }
    /// <summary>Renormalise the top-k routing weights to sum to 1 (Mixtral always does; Qwen MoE where this is true).</summary>
    [JsonPropertyName("norm_topk_prob")] public bool? NormTopkProb { get; init; }
    /// <summary>Weight of the Switch/Mixtral load-balancing loss added to the training loss.</summary>
    [JsonPropertyName("router_aux_loss_coef")] public double? RouterAuxLossCoef { get; init; }
    /// <summary>Weight of ST-MoE's router z-loss, mean(logsumexp(router logits)²), added to the training loss.</summary>
    [JsonPropertyName("router_z_loss_coef")] public double? RouterZLossCoef { get; init; }
    /// <summary>Qwen MoE: every decoder_sparse_step-th layer is sparse (the others dense, intermediate_size wide).</summary>
    [JsonPropertyName("decoder_sparse_step")] public int? DecoderSparseStep { get; init; }
    /// <summary>Qwen MoE: layers that stay dense.</summary>
    [JsonPropertyName("mlp_only_layers")] public IReadOnlyList<int>? MlpOnlyLayers { get; init; }
    /// <summary>Mixtral's training-time noise on router inputs; only 0 is supported.</summary>
    [JsonPropertyName("router_jitter_noise")] public double? RouterJitterNoise { get; init; }
    /// <summary>The dtype of the weights in the saved folder ("float32", "bfloat16", "float16").</summary>
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }

    /// <summary>Every other config.json key, kept as read so a saved folder keeps its family's keys; the ones that change
    /// the math are refused by <see cref="Validate"/>.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? OtherKeys { get; init; }

    /// <summary>The family this config's <c>model_type</c> names (its switches below come from it); null for a model_type
    /// not in <see cref="ModelFamily.All"/>, which <see cref="Validate"/> refuses.</summary>
    [JsonIgnore] public ModelFamily? Family => ModelFamily.Of(ModelType);

    private readonly string? hiddenAct;
    private readonly bool? tie;

    /// <summary>The MLP's gate activation: <c>silu</c> (SwiGLU) or <c>gelu_pytorch_tanh</c> (GeGLU).</summary>
    [JsonIgnore] public string Activation => HiddenActivation ?? HiddenAct ?? "silu";

    /// <summary>RMSNorm scales by 1 + weight (Gemma).</summary>
    [JsonIgnore] public bool NormOffset => Family?.NormOffset ?? false;

    /// <summary>Attention and MLP outputs are normed before the residual add; the MLP input has its own norm (Gemma).</summary>
    [JsonIgnore] public bool PostNorms => Family?.PostNorms ?? false;

    /// <summary>q/k/v and gate/up as one weight each, <c>qkv_proj</c> and <c>gate_up_proj</c> (Phi-3).</summary>
    [JsonIgnore] public bool FusedProjections => Family?.FusedProjections ?? false;

    /// <summary>The position from which longrope takes its long factors: a forward whose positions reach beyond it rotates
    /// all of them with the long ones (transformers' rule); config.json's top-level original_max_position_embeddings, else
    /// rope_scaling's. Null without longrope.</summary>
    [JsonIgnore] public int? LongRopeFrom =>
        RopeScaling is { IsLongRope: true } ? OriginalMaxPositionEmbeddings ?? RopeScaling.OriginalMaxPositionEmbeddings : null;

    /// <summary>longrope's factor on cos and sin (both, so on q·k its square): rope_scaling's attention_factor, else
    /// √(1 + ln(s) / ln(original)) with s = max_position_embeddings / original (1 when s ≤ 1). 1 for other rotary.</summary>
    [JsonIgnore] public double RopeAttentionFactor
    {
        get
        {
            if (LongRopeFrom is not { } original) return 1;
            if (RopeScaling!.AttentionFactor is { } given) return given;
            var scale = (double)MaxPositionEmbeddings / original;
            return scale <= 1 ? 1 : Math.Sqrt(1 + Math.Log(scale) / Math.Log(original));
        }
    }

    /// <summary>Embeddings × √hidden_size (Gemma).</summary>
    [JsonIgnore] public bool ScaledEmbeddings => Family?.ScaledEmbeddings ?? false;

    /// <summary>Biases on the q, k and v projections (Qwen2); o_proj stays bias-free.</summary>
    [JsonIgnore] public bool QkvBias => Family?.QkvBias ?? false;

    /// <summary>RMSNorm over each query and key head (weights of shape [head_dim]) before rotary (Qwen3).</summary>
    [JsonIgnore] public bool QkNorm => Family?.QkNorm ?? false;

    /// <summary>The attention window in positions, or null for full causal attention (Mistral's <c>sliding_window</c>).</summary>
    [JsonIgnore] public int? SlidingWindow => Family?.HonoursSlidingWindow == true ? SlidingWindowSize : null;

    /// <summary>Whether layer <paramref name="layer"/> attends through the sliding window: every layer of a family that honours
    /// <c>sliding_window</c> (Mistral), or the <c>sliding_attention</c> layers of one with layer types (Gemma 3: from
    /// <c>layer_types</c>, else all but every <c>sliding_window_pattern</c>-th, default 6, as transformers derives them).</summary>
    public bool SlidingLayer(int layer) =>
        Family is { HonoursSlidingWindow: true } family && SlidingWindowSize is not null &&
        (!family.LayerTypes || (LayerTypeNames is { } types ? types[layer] == "sliding_attention" : (layer + 1) % (SlidingWindowPattern ?? 6) != 0));

    /// <summary>The attention window of layer <paramref name="layer"/> in positions, or null for full causal attention.</summary>
    public int? WindowOf(int layer) => SlidingLayer(layer) ? SlidingWindowSize : null;

    /// <summary>The rotary base of the sliding layers where they have their own (Gemma 3's rope_local_base_freq, default
    /// 10000, without rope_scaling); null where every layer rotates with rope_theta.</summary>
    [JsonIgnore] public double? LocalRopeTheta => Family?.LayerTypes == true ? RopeLocalBaseFreq ?? 10000 : null;

    /// <summary>The factor on q·k before the softmax: query_pre_attn_scalar^−½ where the family reads it, else head_dim^−½.</summary>
    [JsonIgnore] public double AttentionScale =>
        1.0 / Math.Sqrt(Family?.LayerTypes == true && QueryPreAttnScalar is { } scalar ? scalar : HeadDim);

    /// <summary>Experts per sparse layer (num_local_experts or num_experts, as the family names it); 0 for a dense model.</summary>
    [JsonIgnore] public int ExpertCount => Family?.Experts is null ? 0 : NumLocalExperts ?? NumExperts ?? 0;

    /// <summary>The experts each token is routed to (num_experts_per_tok, default 2).</summary>
    [JsonIgnore] public int ExpertsPerToken => NumExpertsPerTok ?? 2;

    /// <summary>An expert's width: moe_intermediate_size (Qwen MoE), else intermediate_size (Mixtral).</summary>
    [JsonIgnore] public int ExpertIntermediateSize => MoeIntermediateSize ?? IntermediateSize;

    /// <summary>The shared expert's width (Qwen2-MoE), 0 without one.</summary>
    [JsonIgnore] public int SharedExpertSize => Family?.Experts is { SharedExpert: true } ? SharedExpertIntermediateSize ?? 0 : 0;

    /// <summary>Whether the top-k routing weights are renormalised to sum to 1 (norm_topk_prob, else the family's rule).</summary>
    [JsonIgnore] public bool RenormalizeTopK => NormTopkProb ?? Family?.Experts?.RenormalizesByDefault ?? true;

    /// <summary>Whether layer <paramref name="layer"/> has a sparse MLP: a MoE config's layers, but those in mlp_only_layers
    /// and those off the decoder_sparse_step grid (Qwen MoE's rule: (layer + 1) % step == 0).</summary>
    public bool SparseLayer(int layer) =>
        ExpertCount > 0 && MlpOnlyLayers?.Contains(layer) != true && (layer + 1) % (DecoderSparseStep ?? 1) == 0;

    /// <summary>Per-head width: hidden_size / num_attention_heads unless config.json says head_dim.</summary>
    [JsonIgnore] public int HeadDim => HeadDimOverride ?? HiddenSize / NumAttentionHeads;

    /// <summary>Value equality over what config.json would hold (the list and object members compare by content).</summary>
    public bool Equals(ModelConfig? other) => other is not null && (ReferenceEquals(this, other) || Json() == other.Json());

    public override int GetHashCode() => Json().GetHashCode(StringComparison.Ordinal);

    private string Json() => JsonSerializer.Serialize(this);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first key this implementation cannot honour.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: {message}"); }
        Check(VocabSize > 0, $"vocab_size must be positive (got {VocabSize})");
        Check(HiddenSize > 0, $"hidden_size must be positive (got {HiddenSize})");
        Check(NumHiddenLayers > 0, $"num_hidden_layers must be positive (got {NumHiddenLayers})");
        Check(NumAttentionHeads > 0, $"num_attention_heads must be positive (got {NumAttentionHeads})");
        Check(NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads == 0,
            $"num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({NumKeyValueHeads})");
        Check(HeadDimOverride is not null || HiddenSize % NumAttentionHeads == 0,
            $"hidden_size ({HiddenSize}) must be a multiple of num_attention_heads ({NumAttentionHeads})");
        Check(HeadDim > 0 && HeadDim % 2 == 0, $"head_dim must be positive and even (got {HeadDim})");
        Check(IntermediateSize > 0, $"intermediate_size must be positive (got {IntermediateSize})");
        Check(MaxPositionEmbeddings > 0, $"max_position_embeddings must be positive (got {MaxPositionEmbeddings})");
        Check(RopeTheta > 0, $"rope_theta must be positive (got {RopeTheta})");
        Check(RmsNormEps > 0, $"rms_norm_eps must be positive (got {RmsNormEps})");
        Check(!AttentionBias, "attention_bias = true is not supported");
        Check(!MlpBias, "mlp_bias = true is not supported");
        var family = Family ?? throw new ArgumentException($"config: model_type '{ModelType}' is not supported (supported: {ModelFamily.Names})");
        Check(Activation == family.Activation, $"{(HiddenActivation is null ? "hidden_act" : "hidden_activation")} '{Activation}' is not supported " +
            $"for model_type '{ModelType}' (only '{family.Activation}')");
        foreach (var architecture in Architectures)
            Check(family.Architectures.Contains(architecture),
                $"architectures '{architecture}' is not supported for model_type '{ModelType}' (expected {string.Join(" or ", family.Architectures)})");
        RopeScaling?.Validate();
        Check(RopeScaling is not { IsLongRope: true } || (LongRopeFrom is > 0 && RopeScaling.ShortFactor?.Count == HeadDim / 2
                && RopeScaling.LongFactor?.Count == HeadDim / 2),
            $"rope_scaling: longrope needs original_max_position_embeddings and short_factor / long_factor of head_dim / 2 = {HeadDim / 2} values");
        Check(RopeScaling?.FrequencyFactors is null || RopeScaling.FrequencyFactors.Count == HeadDim / 2,
            $"rope_scaling: {RopeScaling?.FrequencyFactors?.Count} frequency factors (rope_freqs) for head_dim / 2 = {HeadDim / 2} frequencies");
        Check(PartialRotaryFactor is null or 1.0, $"partial_rotary_factor = {PartialRotaryFactor} is not supported (only 1.0)");
        foreach (var dropout in new[] { "embd_pdrop", "resid_pdrop" })
            Check(OtherKeys is null || !OtherKeys.TryGetValue(dropout, out var p) || p.ValueKind != JsonValueKind.Number || p.GetDouble() == 0,
                $"{dropout} is not supported (only 0)");
        Check(RopeScaling is not { Type: "dynamic", OriginalMaxPositionEmbeddings: { } original } || original >= MaxPositionEmbeddings,
            "rope_scaling: dynamic with original_max_position_embeddings below max_position_embeddings is not supported");
        Check(SlidingWindowSize is null || SlidingWindowSize > 0, $"sliding_window must be positive (got {SlidingWindowSize})");
        Check(UseSlidingWindow != true, "use_sliding_window = true is not supported");
        Check(AttentionDropout is null or 0, $"attention_dropout = {AttentionDropout} is not supported (only 0)");
        foreach (var key in UnsupportedKeys)
            Check(OtherKeys is null || !OtherKeys.TryGetValue(key, out var value) || value.ValueKind is JsonValueKind.Null or JsonValueKind.False,
                $"{key} is not supported");
        ValidateExperts(family);
        if (family.LayerTypes) ValidateLayerTypes();
        else
        {
            Check(QueryPreAttnScalar is null, "query_pre_attn_scalar is not supported");
            Check(LayerTypeNames is null || LayerTypeNames.All(t => t == "full_attention"), "layer_types other than 'full_attention' are not supported");
        }
    }

    /// <summary>Gemma 3's interleaved layers: a type per layer, a positive pattern, a window where a layer slides.</summary>
    private void ValidateLayerTypes()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: {message}"); }
        Check(LayerTypeNames is null || LayerTypeNames.Count == NumHiddenLayers,
            $"layer_types has {LayerTypeNames?.Count} entries; num_hidden_layers is {NumHiddenLayers}");
        Check(LayerTypeNames is null || LayerTypeNames.All(t => t is "sliding_attention" or "full_attention"),
            "layer_types may hold 'sliding_attention' and 'full_attention' only");
        Check(SlidingWindowPattern is null or > 0, $"sliding_window_pattern must be positive (got {SlidingWindowPattern})");
        Check(SlidingWindowSize is not null || LayerTypeNames?.Contains("sliding_attention") != true, "sliding layers need a sliding_window");
        Check(QueryPreAttnScalar is null or > 0, $"query_pre_attn_scalar must be positive (got {QueryPreAttnScalar})");
        Check(RopeLocalBaseFreq is null or > 0, $"rope_local_base_freq must be positive (got {RopeLocalBaseFreq})");
    }

    /// <summary>Mixture of experts: an expert count under the family's key, a top-k the router can serve.</summary>
    private void ValidateExperts(ModelFamily family)
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: {message}"); }
        var moeKeys = new (string Key, bool Present)[]
        {
            ("num_local_experts", NumLocalExperts is not null), ("num_experts", NumExperts is not null),
            ("moe_intermediate_size", MoeIntermediateSize is not null), ("shared_expert_intermediate_size", SharedExpertIntermediateSize is > 0),
        };
        if (family.Experts is not { } experts)
        {
            foreach (var (key, present) in moeKeys)
                Check(!present, $"{key} is not supported for model_type '{ModelType}' (a mixture of experts is mixtral, qwen2_moe or qwen3_moe)");
            return;
        }
        Check(ExpertCount > 0, $"{experts.CountKey} must be positive for model_type '{ModelType}' (got {ExpertCount})");
        Check(ExpertsPerToken > 0, $"num_experts_per_tok must be positive (got {ExpertsPerToken})");
        Check(ExpertsPerToken <= ExpertCount,
            $"num_experts_per_tok = {ExpertsPerToken} exceeds {experts.CountKey} = {ExpertCount}: "
            + "the router cannot route a token to more experts than there are");
        Check(ExpertIntermediateSize > 0, $"moe_intermediate_size must be positive (got {ExpertIntermediateSize})");
        Check(SharedExpertIntermediateSize is null or 0 || experts.SharedExpert,
            $"shared_expert_intermediate_size is not supported for model_type '{ModelType}'");
        Check(SharedExpertIntermediateSize is null or >= 0, $"shared_expert_intermediate_size must not be negative (got {SharedExpertIntermediateSize})");
        Check(DecoderSparseStep is null or > 0, $"decoder_sparse_step must be positive (got {DecoderSparseStep})");
        Check(MlpOnlyLayers is null || MlpOnlyLayers.All(layer => layer >= 0 && layer < NumHiddenLayers),
            $"mlp_only_layers must name layers 0 to num_hidden_layers - 1 = {NumHiddenLayers - 1} "
            + $"(got [{string.Join(", ", MlpOnlyLayers ?? [])}])");
        Check(RouterJitterNoise is null or 0, $"router_jitter_noise = {RouterJitterNoise} is not supported (only 0)");
        Check(RouterAuxLossCoef is null || RouterAuxLossCoef >= 0 && double.IsFinite(RouterAuxLossCoef.Value),
            $"router_aux_loss_coef must be a finite number, not negative (got {RouterAuxLossCoef})");
        Check(RouterZLossCoef is null || RouterZLossCoef >= 0 && double.IsFinite(RouterZLossCoef.Value),
            $"router_z_loss_coef must be a finite number, not negative (got {RouterZLossCoef})");
    }

    /// <summary>Keys that change the math and are not implemented: present with any value but null or false, they are refused.</summary>
    private static readonly string[] UnsupportedKeys =
        ["rope_parameters", "attn_logit_softcapping", "final_logit_softcapping", "use_mrope"];
}

/// <summary>Reads a token id written as a number, a list of numbers (the first is kept) or null.</summary>
public sealed class TokenIdConverter : JsonConverter<int?>
{
    public override int? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.Number: return reader.GetInt32();
            case JsonTokenType.StartArray:
                int? first = null;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    if (reader.TokenType == JsonTokenType.Number) first ??= reader.GetInt32();
                    else throw new JsonException("token id lists must hold numbers");
                return first;
            default: throw new JsonException($"a token id must be a number or a list of numbers, not {reader.TokenType}");
        }
    }

    public override void Write(Utf8JsonWriter writer, int? value, JsonSerializerOptions options)
    {
        if (value is { } v) writer.WriteNumberValue(v);
        else writer.WriteNullValue();
    }
}
