using Substrate.IO;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training.Finetuning;

/// <summary>
/// A fine-tuning run's checkpoint, <c>checkpoint/</c>: the trained weights (a PEFT adapter folder or an HF model
/// folder, written by <paramref name="saveWeights"/>), <c>optimizer.safetensors</c>, <c>finetune_config.json</c> and
/// <c>finetune_state.json</c> (last: it marks the folder complete), in a crash-safe <see cref="CheckpointFolder"/>.
/// </summary>
public static class FinetuneCheckpoint
{
    public const string DirectoryName = CheckpointFolder.DirectoryName;

    /// <summary>Checkpoints into <paramref name="run"/> (which redraws loss.png).</summary>
    public static void Save(RunFolder run, Action<string> saveWeights, AdamW optimizer, FinetuneState state, FinetuneConfig config) =>
        run.SaveCheckpoint(temp =>
        {
            saveWeights(temp);
            AtomicFile.WriteAllText(Path.Combine(temp, FinetuneConfig.FileName), config.ToJson());
        }, optimizer, state.Step, state.ToJson());

    public static FinetuneState LoadOptimizer(string checkpointDirectory, AdamW optimizer)
    {
        var state = FinetuneState.Read(Path.Combine(checkpointDirectory, FinetuneState.FileName));
        CheckpointFolder.LoadOptimizer(checkpointDirectory, optimizer, state.OptimizerSteps);
        return state;
    }
}
