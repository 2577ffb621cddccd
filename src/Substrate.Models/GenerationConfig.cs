using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Models;

/// <summary>
/// A model folder's <c>generation_config.json</c>: the decoding settings the model ships with, under Hugging Face's keys.
/// A key the file lacks is null here; what it then means (Hugging Face's defaults) is decided where the settings are used.
/// Keys not listed (num_beams, pad_token_id, transformers_version, …) are ignored.
/// </summary>
public sealed record GenerationConfig
{
    public const string FileName = "generation_config.json";

    /// <summary>False (Hugging Face's default): greedy decoding; true: sample with temperature, top_k, top_p.</summary>
    [JsonPropertyName("do_sample")] public bool? DoSample { get; init; }
    [JsonPropertyName("temperature")] public double? Temperature { get; init; }
    [JsonPropertyName("top_k")] public int? TopK { get; init; }
    [JsonPropertyName("top_p")] public double? TopP { get; init; }
    [JsonPropertyName("repetition_penalty")] public double? RepetitionPenalty { get; init; }
    [JsonPropertyName("max_new_tokens")] public int? MaxNewTokens { get; init; }
    [JsonPropertyName("bos_token_id"), JsonConverter(typeof(TokenIdConverter))] public int? BosTokenId { get; init; }
    /// <summary>Every id that ends generation (Llama 3 lists several).</summary>
    [JsonPropertyName("eos_token_id"), JsonConverter(typeof(TokenIdListConverter))] public IReadOnlyList<int>? EosTokenIds { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>What Substrate writes beside a model it saves: its BOS/EOS ids, and greedy decoding said out loud
    /// (do_sample false), which is what Hugging Face reads from a file without sampling keys.</summary>
    public static GenerationConfig ForModel(ModelConfig config) => new()
    {
        DoSample = false, BosTokenId = config.BosTokenId, EosTokenIds = config.EosTokenId is { } eos ? [eos] : null,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    /// <summary>The folder's generation_config.json, or null when it has none; <see cref="InvalidDataException"/>
    /// naming the file and key when a value has the wrong type or range.</summary>
    public static GenerationConfig? Read(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var config = JsonSerializer.Deserialize<GenerationConfig>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: the file holds null, not an object");
            config.Validate();
            return config;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid {FileName} ({e.Message})", e); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    public void Validate()
    {
        if (Temperature is < 0 || Temperature is double.NaN) throw new ArgumentException($"temperature must be ≥ 0 (got {Temperature})");
        if (TopK is < 0) throw new ArgumentException($"top_k must be ≥ 0 (got {TopK})");
        if (TopP is { } p && !(p > 0 && p <= 1)) throw new ArgumentException($"top_p must be in (0, 1] (got {p})");
        if (RepetitionPenalty is { } r && !(r > 0)) throw new ArgumentException($"repetition_penalty must be > 0 (got {r})");
        if (MaxNewTokens is < 0) throw new ArgumentException($"max_new_tokens must be ≥ 0 (got {MaxNewTokens})");
    }
}
