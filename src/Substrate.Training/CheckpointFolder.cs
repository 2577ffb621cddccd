using Substrate.IO;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// The crash-safe folder every training recipe checkpoints into: <c>checkpoint/</c>, written whole into
/// <c>checkpoint.tmp/</c> (its state file last, which marks it complete) and swapped in by renames, so a
/// kill at any moment leaves a complete checkpoint (<c>checkpoint/</c>, or <c>checkpoint.old/</c> during
/// the swap). Also holds the AdamW moments as <c>optimizer.safetensors</c>, and <c>checksums.sha256</c>
/// (<c>sha256sum</c>'s format) over every other file, so a flipped bit is found before a run resumes from it.
/// </summary>
public static class CheckpointFolder
{
    public const string DirectoryName = "checkpoint";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string ChecksumsFile = "checksums.sha256";

    /// <summary>The latest complete checkpoint of a run (one holding <paramref name="stateFile"/>), or null. Locating only:
    /// a run verifies the one it resumes from once (<see cref="RunFolder.Open"/>, <see cref="CheckpointIntegrity.Verify"/>).</summary>
    public static string? Find(string runDirectory, string stateFile)
    {
        foreach (var name in new[] { DirectoryName, DirectoryName + ".old" })
        {
            var dir = Path.Combine(runDirectory, name);
            if (File.Exists(Path.Combine(dir, stateFile))) return dir;
        }
        return null;
    }

    /// <summary>Fills a fresh temp folder with <paramref name="write"/> and the optimizer, writes the state
    /// file last, then swaps it in. Returns the checkpoint folder.</summary>
    public static string Save(string runDirectory, Action<string> write, AdamW optimizer, int step, string stateFile, string stateJson)
    {
        string final = Path.Combine(runDirectory, DirectoryName), temp = final + ".tmp", old = final + ".old";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        write(temp);
        SafetensorsWriter.Write(Path.Combine(temp, OptimizerFile), optimizer.StateSources(),
            new Dictionary<string, string> { ["step"] = step.ToString(), ["optimizer"] = "adamw" });
        CheckpointIntegrity.WriteChecksums(temp);
        AtomicFile.WriteAllText(Path.Combine(temp, stateFile), stateJson); // last: marks the folder complete

        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(temp, final);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        return final;
    }

    /// <summary>Restores the AdamW moments saved beside a checkpoint into <paramref name="optimizer"/>, one tensor at a time, each a
    /// view of the memory-mapped file where it can be: a sharded optimizer reads only its slices, nothing the size of the whole.</summary>
    public static void LoadOptimizer(string checkpointDirectory, AdamW optimizer, long optimizerSteps)
    {
        using var reader = new SafetensorsReader(Path.Combine(checkpointDirectory, OptimizerFile));
        optimizer.LoadState(name => reader.Contains(name) ? reader.Map(name) ?? reader.Read(name) : null, optimizerSteps);
    }
}
