using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Training.Finetuning;

/// <summary><c>finetune_state.json</c>: where a fine-tuning run stands, including its early-stopping record.</summary>
public sealed record FinetuneState
{
    public const string FileName = "finetune_state.json";

    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("optimizer_steps")] public long OptimizerSteps { get; init; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("last_train_loss")] public double? LastTrainLoss { get; init; }
    [JsonPropertyName("last_validation_loss")] public double? LastValidationLoss { get; init; }
    [JsonPropertyName("best_validation_loss")] public double? BestValidationLoss { get; init; }
    [JsonPropertyName("best_step")] public int BestStep { get; init; }
    /// <summary>Validations in a row without a new best.</summary>
    [JsonPropertyName("evals_without_improvement")] public int EvalsWithoutImprovement { get; init; }
    [JsonPropertyName("data_fingerprint")] public string DataFingerprint { get; init; } = "";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    public string ToJson() => JsonSerializer.Serialize(this, Indented);
    public static FinetuneState Read(string path) =>
        JsonSerializer.Deserialize<FinetuneState>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
}
