using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Models;

/// <summary>
/// config.json's <c>rope_scaling</c>, as Hugging Face transformers reads it (modeling_rope_utils): <c>llama3</c> (Llama 3.1's
/// per-frequency scaling), <c>linear</c> (position interpolation: every frequency / factor) and <c>dynamic</c> (NTK-aware
/// base scaling once a sequence is longer than max_position_embeddings — never here, where positions stop there, so it
/// is plain rotary, as transformers computes it for such sequences) and <c>longrope</c> (Phi-3, older <c>su</c>: every
/// frequency divided by its short_factor, or its long_factor once positions pass original_max_position_embeddings, and cos/sin
/// scaled by an attention factor, see <see cref="ModelConfig.RopeAttentionFactor"/>). The type is <c>rope_type</c>, or the older <c>type</c>.
/// </summary>
public sealed record RopeScaling
{
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    [JsonPropertyName("type")] public string? LegacyType { get; init; }
    [JsonPropertyName("factor")] public double? Factor { get; init; }
    [JsonPropertyName("low_freq_factor")] public double? LowFreqFactor { get; init; }
    [JsonPropertyName("high_freq_factor")] public double? HighFreqFactor { get; init; }
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }
    [JsonPropertyName("short_factor")] public IReadOnlyList<double>? ShortFactor { get; init; }
    [JsonPropertyName("long_factor")] public IReadOnlyList<double>? LongFactor { get; init; }
    [JsonPropertyName("attention_factor")] public double? AttentionFactor { get; init; }
    /// <summary>
    /// Explicit per-frequency factors, as llama.cpp's <c>rope_freqs</c> tensor holds them (hd/2 values; ggml's rope with
    /// freq_factors): the plain inverse frequency θ^(−2i/hd) is divided by factor i. Where set they replace the type's own
    /// formula (a GGUF file's factors are used as stored, in float32); the type's keys then say what they came from.
    /// Not a config.json key: a folder stores the type's keys (llama3 parameters, or longrope's factors).
    /// </summary>
    [JsonIgnore] public IReadOnlyList<float>? FrequencyFactors { get; init; }
    /// <summary>Keys of other scaling types (yarn's beta_fast, …), kept so they are refused, not dropped.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? OtherKeys { get; init; }

    [JsonIgnore] public string Type => RopeType ?? LegacyType ?? "default";

    [JsonIgnore] public bool IsLongRope => Type is "longrope" or "su";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first key that is missing, out of range or not implemented.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: rope_scaling: {message}"); }
        Check(Type is "default" or "llama3" or "linear" or "dynamic" || IsLongRope,
            $"type '{Type}' is not supported (supported: llama3, linear, dynamic, longrope)");
        Check(OtherKeys is null || OtherKeys.Count == 0, $"key '{OtherKeys?.Keys.FirstOrDefault()}' is not supported");
        if (IsLongRope)
        {
            Check(ShortFactor?.All(f => f > 0) == true && LongFactor?.All(f => f > 0) == true, "longrope needs positive short_factor and long_factor");
            Check(AttentionFactor is null or > 0, $"attention_factor must be positive (got {AttentionFactor})");
        }
        Check(FrequencyFactors?.All(f => f > 0 && float.IsFinite(f)) != false, "frequency factors (rope_freqs) must be positive");
        if (Type == "default" || IsLongRope) return;
        Check(Factor is >= 1, $"factor must be at least 1 (got {Factor?.ToString() ?? "none"})");
        if (Type != "llama3") return;
        Check(LowFreqFactor is > 0, $"low_freq_factor must be positive (got {LowFreqFactor?.ToString() ?? "none"})");
        Check(HighFreqFactor > LowFreqFactor, $"high_freq_factor must exceed low_freq_factor (got {HighFreqFactor?.ToString() ?? "none"})");
        Check(OriginalMaxPositionEmbeddings is > 0,
            $"original_max_position_embeddings must be positive (got {OriginalMaxPositionEmbeddings?.ToString() ?? "none"})");
    }

    /// <summary>The rotary inverse frequencies θ^(−2i/hd), i &lt; hd/2, in fp64, scaled by <paramref name="scaling"/> where
    /// given. (RotaryEmbedding computes the plain ones with libtorch, as it always has, then scales them the same way.)</summary>
    public static double[] Frequencies(int headDim, double theta, RopeScaling? scaling, bool longFactors = false)
    {
        var plain = Enumerable.Range(0, headDim / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / headDim)).ToArray();
        return scaling?.Scale(plain, longFactors) ?? plain;
    }

    /// <summary>
    /// The scaled rotary inverse frequencies from the plain ones (θ^(−2i/hd)). linear: all / factor. llama3: wavelengths
    /// 2π/f shorter than original/high_freq_factor keep f, longer than original/low_freq_factor take f / factor, and those
    /// between blend the two by smooth = (original/wavelength − low) / (high − low): (1 − smooth)·f/factor + smooth·f.
    /// longrope: f_i / short_factor_i, or f_i / long_factor_i with <paramref name="longFactors"/>. With
    /// <see cref="FrequencyFactors"/>: f_i / factor_i, whatever the type.
    /// </summary>
    public double[] Scale(IReadOnlyList<double> inverseFrequencies, bool longFactors = false)
    {
        if (FrequencyFactors is { } explicitFactors) return inverseFrequencies.Select((f, i) => f / explicitFactors[i]).ToArray();
        var factor = Factor ?? 1;
        if (IsLongRope) return inverseFrequencies.Select((f, i) => f / (longFactors ? LongFactor! : ShortFactor!)[i]).ToArray();
        return Type switch
        {
            "linear" => inverseFrequencies.Select(f => f / factor).ToArray(),
            "llama3" => inverseFrequencies.Select(f => Llama3(f, factor)).ToArray(),
            _ => inverseFrequencies.ToArray(), // default; dynamic within max_position_embeddings
        };
    }

    private double Llama3(double frequency, double factor)
    {
        double original = OriginalMaxPositionEmbeddings!.Value, low = LowFreqFactor!.Value, high = HighFreqFactor!.Value;
        var wavelength = 2 * Math.PI / frequency;
        if (wavelength < original / high) return frequency;
        if (wavelength > original / low) return frequency / factor;
        var smooth = (original / wavelength - low) / (high - low);
        return (1 - smooth) * frequency / factor + smooth * frequency;
    }
}
