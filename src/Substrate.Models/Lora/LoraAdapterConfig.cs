using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Substrate.Models.Lora;

/// <summary>
/// A PEFT LoRA <c>adapter_config.json</c>: the keys PEFT writes and reads. Target modules are the last
/// component of a layer path (<c>q_proj</c>, <c>down_proj</c>) or <c>all-linear</c> (every projection but the head).
/// </summary>
public sealed record LoraAdapterConfig
{
    public const string FileName = "adapter_config.json";
    public const string AllLinear = "all-linear";

    [JsonPropertyName("peft_type")] public string PeftType { get; init; } = "LORA";
    [JsonPropertyName("task_type")] public string TaskType { get; init; } = "CAUSAL_LM";
    [JsonPropertyName("r")] public int R { get; init; } = 8;
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 16;
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; }
    [JsonPropertyName("target_modules"), JsonConverter(typeof(TargetModulesConverter))]
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "v_proj"];
    [JsonPropertyName("base_model_name_or_path")] public string? BaseModelNameOrPath { get; init; }
    [JsonPropertyName("bias")] public string Bias { get; init; } = "none";
    [JsonPropertyName("fan_in_fan_out")] public bool FanInFanOut { get; init; }
    [JsonPropertyName("use_rslora")] public bool UseRslora { get; init; }
    [JsonPropertyName("inference_mode")] public bool InferenceMode { get; init; } = true;

    /// <summary>alpha / r (alpha / √r with rsLoRA), the factor on B·A.</summary>
    [JsonIgnore] public double Scale => UseRslora ? LoraAlpha / Math.Sqrt(R) : LoraAlpha / R;

    public void Validate()
    {
        if (PeftType != "LORA") throw new ArgumentException($"peft_type is '{PeftType}'; only LORA adapters are supported");
        if (R <= 0) throw new ArgumentException($"LoRA rank r must be positive, got {R}");
        if (LoraDropout is < 0 or >= 1) throw new ArgumentException($"lora_dropout must be in [0, 1), got {LoraDropout}");
        if (TargetModules.Count == 0) throw new ArgumentException("target_modules is empty");
        if (Bias != "none") throw new ArgumentException($"bias '{Bias}' is not supported (only 'none')");
        if (FanInFanOut) throw new ArgumentException("fan_in_fan_out adapters (GPT-2 Conv1D) do not apply to Llama");
    }

    /// <summary>Whether a layer path (<c>model.layers.0.self_attn.q_proj</c>) is a target.</summary>
    public bool Targets(string path) =>
        path != "lm_head" && (TargetModules.Contains(AllLinear) || TargetModules.Contains(path[(path.LastIndexOf('.') + 1)..]));

    /// <summary>Parses "q_proj,v_proj" or "all-linear".</summary>
    public static IReadOnlyList<string> ParseTargets(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new ArgumentException("target modules are empty");
        return names;
    }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    public static LoraAdapterConfig Read(string dir)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{dir}: no {FileName}; an adapter is a PEFT folder", path);
        LoraAdapterConfig config;
        try { config = JsonSerializer.Deserialize<LoraAdapterConfig>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: null"); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: invalid adapter config ({ex.Message})", ex); }
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{path}: {ex.Message}", ex); }
        return config;
    }

    /// <summary>PEFT writes target_modules as a list, or as one string (a name or a regex).</summary>
    private sealed class TargetModulesConverter : JsonConverter<IReadOnlyList<string>>
    {
        public override IReadOnlyList<string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            JsonNode.Parse(ref reader) switch
            {
                JsonValue v when v.TryGetValue<string>(out var s) => [s],
                JsonArray a => a.Select(n => n?.GetValue<string>() ?? throw new JsonException("target_modules holds a null")).ToList(),
                _ => throw new JsonException("target_modules must be a string or a list of strings"),
            };

        public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var s in value) writer.WriteStringValue(s);
            writer.WriteEndArray();
        }
    }
}
