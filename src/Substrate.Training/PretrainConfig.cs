using System.Text.Json;
using Substrate.Models;

namespace Substrate.Training;

/// <summary>A resolved run configuration: the model architecture (HF config.json) and the training hyperparameters.</summary>
public sealed record PretrainConfig(ModelConfig Model, TrainConfig Train)
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary><c>{"model": {…}, "train": {…}}</c>, for printing the resolved configuration.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object> { ["model"] = Model, ["train"] = Train }, Indented);

    public static string ToJson(TrainConfig train) => JsonSerializer.Serialize(train, Indented);
}
