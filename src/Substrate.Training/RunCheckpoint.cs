using Substrate.IO;
using System.Text.Json;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// A pretraining run's checkpoint (a <see cref="CheckpointFolder"/>): the model (HF folder), the AdamW
/// moments, <c>trainer_state.json</c> and <c>train_config.json</c>. The model files are then copied to
/// the run folder itself, which is the model folder users load.
/// </summary>
public static class RunCheckpoint
{
    public const string DirectoryName = CheckpointFolder.DirectoryName;
    public const string TrainConfigFile = "train_config.json";

    /// <summary>The latest complete checkpoint folder of a run, or null.</summary>
    public static string? Find(string runDirectory) => CheckpointFolder.Find(runDirectory, TrainerState.FileName);

    /// <summary>Checkpoints into <paramref name="run"/> (which redraws loss.png), then copies the model files up into the run folder.</summary>
    public static void Save(RunFolder run, LlamaForCausalLM model, AdamW optimizer, TrainerState state, TrainConfig train)
    {
        string runDirectory = run.Directory;
        var final = run.SaveCheckpoint(temp =>
        {
            ModelFolder.Save(model, temp);
            AtomicFile.WriteAllText(Path.Combine(temp, TrainConfigFile), PretrainConfig.ToJson(train));
        }, optimizer, state.Step, state.ToJson());
        if (final is null) return; // a rank that does not write

        foreach (var file in new[] { ModelFolder.ConfigFile, ModelFolder.GenerationConfigFile, ModelFolder.WeightsFile, TrainConfigFile })
        {
            var source = Path.Combine(final, file);
            if (File.Exists(source)) AtomicFile.Copy(source, Path.Combine(runDirectory, file));
        }
    }

    public static PretrainConfig ReadConfig(string checkpointDirectory)
    {
        var model = ModelFolder.ReadConfig(checkpointDirectory);
        var path = Path.Combine(checkpointDirectory, TrainConfigFile);
        var train = JsonSerializer.Deserialize<TrainConfig>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
        return new PretrainConfig(model with { TorchDtype = null }, train);
    }

    /// <summary>Restores the optimizer's moments into <paramref name="optimizer"/> (built over the loaded model) and returns the state.</summary>
    public static TrainerState LoadOptimizer(string checkpointDirectory, AdamW optimizer)
    {
        var state = TrainerState.Read(Path.Combine(checkpointDirectory, TrainerState.FileName));
        CheckpointFolder.LoadOptimizer(checkpointDirectory, optimizer, state.OptimizerSteps);
        return state;
    }
}
