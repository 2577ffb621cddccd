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
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
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
    /// <summary>The dtype of the weights in the saved folder ("float32", "bfloat16", "float16").</summary>
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }

    /// <summary>Every other config.json key, kept as read so a saved folder keeps its family's keys; the ones that change
    /// the math are refused by <see cref="Validate"/>.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? OtherKeys { get; init; }

    /// <summary>The family this config's <c>model_type</c> names (its switches below come from it); null for a model_type
    /// not in <see cref="ModelFamily.All"/>, which <see cref="Validate"/> refuses.</summary>
    [JsonIgnore] public ModelFamily? Family => ModelFamily.Of(ModelType);

    /// <summary>Biases on the q, k and v projections (Qwen2); o_proj stays bias-free.</summary>
    [JsonIgnore] public bool QkvBias => Family?.QkvBias ?? false;

    /// <summary>RMSNorm over each query and key head (weights of shape [head_dim]) before rotary (Qwen3).</summary>
    [JsonIgnore] public bool QkNorm => Family?.QkNorm ?? false;

    /// <summary>The attention window in positions, or null for full causal attention (Mistral's <c>sliding_window</c>).</summary>
    [JsonIgnore] public int? SlidingWindow => Family?.HonoursSlidingWindow == true ? SlidingWindowSize : null;

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
        Check(HiddenAct == "silu", $"hidden_act '{HiddenAct}' is not supported (only 'silu')");
        Check(!AttentionBias, "attention_bias = true is not supported");
        Check(!MlpBias, "mlp_bias = true is not supported");
        var family = Family ?? throw new ArgumentException($"config: model_type '{ModelType}' is not supported (supported: {ModelFamily.Names})");
        foreach (var architecture in Architectures)
            Check(family.Architectures.Contains(architecture),
                $"architectures '{architecture}' is not supported for model_type '{ModelType}' (expected {string.Join(" or ", family.Architectures)})");
        RopeScaling?.Validate();
        Check(RopeScaling is not { Type: "dynamic", OriginalMaxPositionEmbeddings: { } original } || original >= MaxPositionEmbeddings,
            "rope_scaling: dynamic with original_max_position_embeddings below max_position_embeddings is not supported");
        Check(SlidingWindowSize is null || SlidingWindowSize > 0, $"sliding_window must be positive (got {SlidingWindowSize})");
        Check(UseSlidingWindow != true, "use_sliding_window = true is not supported");
        Check(AttentionDropout is null or 0, $"attention_dropout = {AttentionDropout} is not supported (only 0)");
        foreach (var key in UnsupportedKeys)
            Check(OtherKeys is null || !OtherKeys.TryGetValue(key, out var value) || value.ValueKind is JsonValueKind.Null or JsonValueKind.False,
                $"{key} is not supported");
        Check(LayerTypesAreFull(), "layer_types other than 'full_attention' are not supported");
    }

    /// <summary>Keys that change the math and are not implemented: present with any value but null or false, they are refused.</summary>
    private static readonly string[] UnsupportedKeys =
        ["rope_parameters", "partial_rotary_factor", "attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "use_mrope"];

    private bool LayerTypesAreFull() =>
        OtherKeys is null || !OtherKeys.TryGetValue("layer_types", out var types) || types.ValueKind != JsonValueKind.Array ||
        types.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String && t.GetString() == "full_attention");
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
