using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training.Finetuning;

/// <summary>
/// A fine-tuning run's checkpoint, <c>checkpoint/</c>: the trained weights (a PEFT adapter folder or an HF model
/// folder, written by <paramref name="saveWeights"/>), <c>optimizer.safetensors</c>, <c>finetune_config.json</c> and
/// <c>finetune_state.json</c> (last: it marks the folder complete). Written whole into <c>checkpoint.tmp/</c> and
/// swapped in by renames, like <see cref="RunCheckpoint"/>, so a kill at any moment leaves a complete checkpoint.
/// </summary>
public static class FinetuneCheckpoint
{
    public const string DirectoryName = "checkpoint";

    public static string? Find(string runDirectory)
    {
        foreach (var name in new[] { DirectoryName, DirectoryName + ".old" })
        {
            var dir = Path.Combine(runDirectory, name);
            if (File.Exists(Path.Combine(dir, FinetuneState.FileName))) return dir;
        }
        return null;
    }

    public static void Save(string runDirectory, Action<string> saveWeights, AdamW optimizer, FinetuneState state, FinetuneConfig config)
    {
        string final = Path.Combine(runDirectory, DirectoryName), temp = final + ".tmp", old = final + ".old";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        saveWeights(temp);
        SafetensorsWriter.Write(Path.Combine(temp, RunCheckpoint.OptimizerFile), optimizer.StateDict(),
            new Dictionary<string, string> { ["step"] = state.Step.ToString(), ["optimizer"] = "adamw" });
        AtomicFile.WriteAllText(Path.Combine(temp, FinetuneConfig.FileName), config.ToJson());
        AtomicFile.WriteAllText(Path.Combine(temp, FinetuneState.FileName), state.ToJson());

        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(temp, final);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    public static FinetuneState LoadOptimizer(string checkpointDirectory, AdamW optimizer)
    {
        var state = FinetuneState.Read(Path.Combine(checkpointDirectory, FinetuneState.FileName));
        using var scope = NewDisposeScope();
        using var reader = new SafetensorsReader(Path.Combine(checkpointDirectory, RunCheckpoint.OptimizerFile));
        optimizer.LoadStateDict(reader.Entries.ToDictionary(e => e.Name, e => reader.Read(e.Name)), state.OptimizerSteps);
        return state;
    }
}
