using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Training.Alignment;

/// <summary><c>dpo_state.json</c>: where an alignment run stands; written last into its checkpoint folder.</summary>
public sealed record DpoState
{
    public const string FileName = "dpo_state.json";

    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("optimizer_steps")] public long OptimizerSteps { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("data_fingerprint")] public string DataFingerprint { get; init; } = "";
    /// <summary>The last steps' figures, for the run's summary.</summary>
    [JsonPropertyName("recent")] public DpoStats[] Recent { get; init; } = [];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    public string ToJson() => JsonSerializer.Serialize(this, Indented);
    public static DpoState Read(string path) =>
        JsonSerializer.Deserialize<DpoState>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
}
