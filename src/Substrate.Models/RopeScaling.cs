using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Models;

/// <summary>
/// config.json's <c>rope_scaling</c>, as Hugging Face transformers reads it (modeling_rope_utils): <c>llama3</c> (Llama 3.1's
/// per-frequency scaling), <c>linear</c> (position interpolation: every frequency / factor) and <c>dynamic</c> (NTK-aware
/// base scaling once a sequence is longer than max_position_embeddings — never here, where positions stop there, so it
/// is plain rotary, as transformers computes it for such sequences). The type is <c>rope_type</c>, or the older <c>type</c>.
/// </summary>
public sealed record RopeScaling
{
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    [JsonPropertyName("type")] public string? LegacyType { get; init; }
    [JsonPropertyName("factor")] public double? Factor { get; init; }
    [JsonPropertyName("low_freq_factor")] public double? LowFreqFactor { get; init; }
    [JsonPropertyName("high_freq_factor")] public double? HighFreqFactor { get; init; }
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>Keys of other scaling types (yarn's beta_fast, …), kept so they are refused, not dropped.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? OtherKeys { get; init; }

    [JsonIgnore] public string Type => RopeType ?? LegacyType ?? "default";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first key that is missing, out of range or not implemented.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: rope_scaling: {message}"); }
        Check(Type is "default" or "llama3" or "linear" or "dynamic",
            $"type '{Type}' is not supported (supported: llama3, linear, dynamic)");
        Check(OtherKeys is null || OtherKeys.Count == 0, $"key '{OtherKeys?.Keys.FirstOrDefault()}' is not supported");
        if (Type == "default") return;
        Check(Factor is >= 1, $"factor must be at least 1 (got {Factor?.ToString() ?? "none"})");
        if (Type != "llama3") return;
        Check(LowFreqFactor is > 0, $"low_freq_factor must be positive (got {LowFreqFactor?.ToString() ?? "none"})");
        Check(HighFreqFactor > LowFreqFactor, $"high_freq_factor must exceed low_freq_factor (got {HighFreqFactor?.ToString() ?? "none"})");
        Check(OriginalMaxPositionEmbeddings is > 0,
            $"original_max_position_embeddings must be positive (got {OriginalMaxPositionEmbeddings?.ToString() ?? "none"})");
    }

    /// <summary>The rotary inverse frequencies θ^(−2i/hd), i &lt; hd/2, in fp64, scaled by <paramref name="scaling"/> where
    /// given. (RotaryEmbedding computes the plain ones with libtorch, as it always has, then scales them the same way.)</summary>
    public static double[] Frequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var plain = Enumerable.Range(0, headDim / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / headDim)).ToArray();
        return scaling?.Scale(plain) ?? plain;
    }

    /// <summary>
    /// The scaled rotary inverse frequencies from the plain ones (θ^(−2i/hd)). linear: all / factor. llama3: wavelengths
    /// 2π/f shorter than original/high_freq_factor keep f, longer than original/low_freq_factor take f / factor, and those
    /// between blend the two by smooth = (original/wavelength − low) / (high − low): (1 − smooth)·f/factor + smooth·f.
    /// </summary>
    public double[] Scale(IReadOnlyList<double> inverseFrequencies)
    {
        var factor = Factor ?? 1;
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
