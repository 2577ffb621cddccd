using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Substrate.IO;
using Substrate.Models;

namespace Substrate.Training;

/// <summary>
/// What makes a checkpoint trustworthy before a run resumes from it: every file's SHA-256 as written (a flipped bit in
/// the weights or the optimizer moments once resumed silently and trained to a loss of 27.8), and a state file whose step
/// is a count (not -5) that agrees with the optimizer file's.
/// </summary>
public static class CheckpointIntegrity
{
    /// <summary>Writes <see cref="CheckpointFolder.ChecksumsFile"/> over every file of <paramref name="directory"/> (recursively).</summary>
    public static void WriteChecksums(string directory)
    {
        var lines = new StringBuilder();
        foreach (var file in Files(directory)) lines.Append($"{Hash(file)}  {Relative(directory, file)}\n");
        AtomicFile.WriteAllText(Path.Combine(directory, CheckpointFolder.ChecksumsFile), lines.ToString());
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the file and the checkpoint when anything does not check out.</summary>
    public static void Verify(string directory, string stateFile)
    {
        var manifest = Path.Combine(directory, CheckpointFolder.ChecksumsFile);
        if (File.Exists(manifest)) VerifyChecksums(directory, manifest); // checkpoints written before checksums have none
        var step = StateStep(Path.Combine(directory, stateFile));
        var optimizer = Path.Combine(directory, CheckpointFolder.OptimizerFile);
        if (!File.Exists(optimizer)) throw Corrupt(directory, $"{CheckpointFolder.OptimizerFile} is missing");
        using var reader = new SafetensorsReader(optimizer);
        if (!reader.Metadata.TryGetValue("step", out var saved) || saved != step.ToString(System.Globalization.CultureInfo.InvariantCulture))
            throw Corrupt(directory, $"{stateFile} says step {step} but {CheckpointFolder.OptimizerFile} was saved at step {saved ?? "(none)"}");
    }

    private static void VerifyChecksums(string directory, string manifest)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(manifest).Where(l => l.Length > 0))
        {
            var parts = line.Split("  ", 2);
            if (parts.Length != 2 || parts[0].Length != 64) throw Corrupt(directory, $"{CheckpointFolder.ChecksumsFile} has a malformed line");
            var file = Path.GetFullPath(Path.Combine(directory, parts[1]));
            if (!file.StartsWith(Path.GetFullPath(directory) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw Corrupt(directory, $"{CheckpointFolder.ChecksumsFile} names a file outside the checkpoint ({parts[1]})");
            if (!File.Exists(file)) throw Corrupt(directory, $"{parts[1]} is missing");
            if (!string.Equals(Hash(file), parts[0], StringComparison.OrdinalIgnoreCase))
                throw Corrupt(directory, $"{parts[1]} does not match its SHA-256 (the file changed after it was written)");
            listed.Add(parts[1]);
        }
        foreach (var required in new[] { CheckpointFolder.OptimizerFile, ModelFolder.WeightsFile })
            if (File.Exists(Path.Combine(directory, required)) && !listed.Contains(required))
                throw Corrupt(directory, $"{required} is not covered by {CheckpointFolder.ChecksumsFile}");
    }

    private static long StateStep(string path)
    {
        JsonNode? state;
        try { state = JsonNode.Parse(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}: invalid JSON ({e.Message})", e); }
        if (state?["step"] is not JsonValue value || !value.TryGetValue<long>(out var step))
            throw new InvalidDataException($"{path}: \"step\" must be a whole number");
        if (step < 0) throw new InvalidDataException($"{path}: \"step\" is {step}; a step count cannot be negative");
        if (state["optimizer_steps"] is JsonValue o && o.TryGetValue<long>(out var optimizerSteps) && optimizerSteps < 0)
            throw new InvalidDataException($"{path}: \"optimizer_steps\" is {optimizerSteps}; it cannot be negative");
        return step;
    }

    private static IEnumerable<string> Files(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != CheckpointFolder.ChecksumsFile)
            .Order(StringComparer.Ordinal);

    private static string Relative(string directory, string file) => Path.GetRelativePath(directory, file).Replace('\\', '/');

    private static string Hash(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static InvalidDataException Corrupt(string directory, string what) =>
        new($"checkpoint {directory} is corrupt: {what}; it was not resumed from (restore it, or start the run again without --resume)");
}
