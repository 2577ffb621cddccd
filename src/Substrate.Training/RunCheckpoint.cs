using System.Text.Json;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// A run folder's checkpoint: <c>checkpoint/</c> holds the model (HF folder), <c>optimizer.safetensors</c>
/// (AdamW moments by parameter name), <c>trainer_state.json</c> and <c>train_config.json</c>. It is
/// written whole into <c>checkpoint.tmp/</c> and swapped in by renames, so a kill at any moment leaves
/// a complete checkpoint (<c>checkpoint/</c>, or <c>checkpoint.old/</c> during the swap). The model
/// files are then copied to the run folder itself, which is the model folder users load.
/// </summary>
public static class RunCheckpoint
{
    public const string DirectoryName = "checkpoint";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string TrainConfigFile = "train_config.json";

    /// <summary>The latest complete checkpoint folder of a run, or null.</summary>
    public static string? Find(string runDirectory)
    {
        foreach (var name in new[] { DirectoryName, DirectoryName + ".old" })
        {
            var dir = Path.Combine(runDirectory, name);
            if (File.Exists(Path.Combine(dir, TrainerState.FileName))) return dir;
        }
        return null;
    }

    public static void Save(string runDirectory, LlamaForCausalLM model, AdamW optimizer, TrainerState state, TrainConfig train)
    {
        string final = Path.Combine(runDirectory, DirectoryName), temp = final + ".tmp", old = final + ".old";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        ModelFolder.Save(model, temp);
        SafetensorsWriter.Write(Path.Combine(temp, OptimizerFile), optimizer.StateDict(),
            new Dictionary<string, string> { ["step"] = state.Step.ToString(), ["optimizer"] = "adamw" });
        AtomicFile.WriteAllText(Path.Combine(temp, TrainConfigFile), PretrainConfig.ToJson(train));
        AtomicFile.WriteAllText(Path.Combine(temp, TrainerState.FileName), state.ToJson()); // written last: marks the folder complete

        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(temp, final);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);

        foreach (var file in new[] { ModelFolder.ConfigFile, ModelFolder.GenerationConfigFile, ModelFolder.WeightsFile, TrainConfigFile })
        {
            var source = Path.Combine(final, file);
            if (File.Exists(source)) AtomicFile.Write(Path.Combine(runDirectory, file), s => { using var f = File.OpenRead(source); f.CopyTo(s); });
        }
    }

    public static PretrainConfig ReadConfig(string checkpointDirectory)
    {
        var model = ModelFolder.ReadConfig(checkpointDirectory);
        var path = Path.Combine(checkpointDirectory, TrainConfigFile);
        var train = JsonSerializer.Deserialize<TrainConfig>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
        return new PretrainConfig(model with { TorchDtype = null }, train);
    }

    /// <summary>Loads the model, restores the optimizer's moments into <paramref name="optimizer"/> built over it, and returns the state.</summary>
    public static TrainerState LoadOptimizer(string checkpointDirectory, AdamW optimizer)
    {
        var state = TrainerState.Read(Path.Combine(checkpointDirectory, TrainerState.FileName));
        using var scope = NewDisposeScope();
        using var reader = new SafetensorsReader(Path.Combine(checkpointDirectory, OptimizerFile));
        var tensors = reader.Entries.ToDictionary(e => e.Name, e => reader.Read(e.Name));
        optimizer.LoadStateDict(tensors, state.OptimizerSteps);
        return state;
    }
}
