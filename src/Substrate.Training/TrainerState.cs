using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Training;

/// <summary>
/// <c>trainer_state.json</c>: where a run stands. The data order is a pure function of (seed,
/// step), so step and seed are all a resume needs to continue the same batches.
/// </summary>
public sealed record TrainerState
{
    public const string FileName = "trainer_state.json";

    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    /// <summary>Seed of the model's initialization and of the data order.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; }
    /// <summary>AdamW updates taken (bias correction); equals step.</summary>
    [JsonPropertyName("optimizer_steps")] public long OptimizerSteps { get; init; }
    /// <summary>Training time so far, over every session of the run.</summary>
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("last_train_loss")] public double? LastTrainLoss { get; init; }
    [JsonPropertyName("last_validation_loss")] public double? LastValidationLoss { get; init; }
    /// <summary>The data folder's tokenizer fingerprint (meta.json), checked on resume.</summary>
    [JsonPropertyName("tokenizer_fingerprint")] public string TokenizerFingerprint { get; init; } = "";
    [JsonPropertyName("data_train_tokens")] public long DataTrainTokens { get; init; }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    public string ToJson() => JsonSerializer.Serialize(this, Indented);
    public static TrainerState Read(string path) =>
        JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
}
