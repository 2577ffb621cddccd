using System.Security.Cryptography;

namespace Substrate.Training;

/// <summary>
/// A recipe's run folder, the parts every recipe shares: the guard (a fresh run never overwrites a run, a resumed one
/// continues its latest complete checkpoint), the data fingerprint, <c>metrics.jsonl</c>, <c>loss.png</c> and crash-safe
/// checkpoints (<see cref="CheckpointFolder"/>). What goes into a checkpoint besides the optimizer is the recipe's.
/// </summary>
public sealed class RunFolder : IDisposable
{
    readonly string stateFile;
    MetricsLog? metrics;

    RunFolder(string directory, string stateFile, string? checkpoint, bool writes)
    {
        Writes = writes;
        Directory = directory;
        this.stateFile = stateFile;
        Checkpoint = checkpoint;
    }

    public string Directory { get; }

    /// <summary>False on data-parallel ranks other than 0: they read the run (its checkpoint) but write nothing into it;
    /// metrics, the plot and checkpoints are rank 0's.</summary>
    public bool Writes { get; }

    /// <summary>The checkpoint a resumed run continues from; null for a fresh run.</summary>
    public string? Checkpoint { get; }

    public MetricsLog Metrics => metrics ?? throw new InvalidOperationException("call StartMetrics first");

    /// <summary>
    /// Guards <paramref name="directory"/> for a run of <paramref name="kind"/> ("fine-tuning", "alignment", …) whose checkpoints
    /// end with <paramref name="stateFile"/>: without <paramref name="resume"/> a folder holding such a run is an error; with it,
    /// a missing checkpoint is an error (a fresh start would overwrite the run). <paramref name="writes"/>: see <see cref="Writes"/>.
    /// </summary>
    public static RunFolder Open(string directory, string stateFile, bool resume, string kind, bool writes = true)
    {
        var checkpoint = CheckpointFolder.Find(directory, stateFile);
        string article = "aeiou".Contains(kind[0]) ? "an" : "a";
        if (!resume && checkpoint is not null)
            throw new ArgumentException($"'{directory}' already holds {article} {kind} run; pass --resume to continue it or choose another output folder");
        if (resume && checkpoint is null)
            throw new ArgumentException($"--resume: no {kind} checkpoint in '{directory}'");
        // Once per run, before anything is read from it: a checkpoint whose files changed is never resumed from.
        if (checkpoint is not null) CheckpointIntegrity.Verify(checkpoint, stateFile);
        return new RunFolder(directory, stateFile, checkpoint, writes) { LastCheckpoint = checkpoint };
    }

    /// <summary>The latest complete checkpoint of this run: the one it resumed from, or the last one it saved.</summary>
    public string? LastCheckpoint { get; private set; }

    /// <summary>
    /// Runs optimizer step <paramref name="step"/>; a loss or gradient that is not finite stops the run there with one error
    /// naming the step and the last good checkpoint. The weights were not updated, and nothing is written: neither a
    /// checkpoint nor a metrics line.
    /// </summary>
    public T Step<T>(int step, Func<T> run)
    {
        try { return run(); }
        catch (NonFiniteLossException e)
        {
            var resumeFrom = LastCheckpoint is { } c ? $"the last good checkpoint is {c} (--resume continues from it; a lower lr may help)"
                : "no checkpoint was written yet";
            throw new NonFiniteLossException($"step {step}: {e.Message}; the run stopped before updating the weights; {resumeFrom}");
        }
    }

    /// <summary>Creates the folder and opens <c>metrics.jsonl</c>, keeping only the lines up to the checkpoint's step.</summary>
    public MetricsLog StartMetrics(int keepThroughStep)
    {
        metrics?.Dispose();
        if (!Writes) return metrics = MetricsLog.Discard(Directory);
        System.IO.Directory.CreateDirectory(Directory);
        return metrics = new MetricsLog(Directory, keepThroughStep);
    }

    /// <summary>Writes a checkpoint (<paramref name="write"/> fills the folder, then the optimizer, then the state file), then
    /// redraws <c>loss.png</c>. Returns the checkpoint folder; null on a rank that does not write.</summary>
    public string? SaveCheckpoint(Action<string> write, AdamW optimizer, int step, string stateJson)
    {
        if (!Writes)
        {
            optimizer.JoinStateGather(); // sharded, writing the moments is a collective every rank joins; rank 0 writes
            return null;
        }
        var saved = CheckpointFolder.Save(Directory, write, optimizer, step, stateFile, stateJson);
        LastCheckpoint = saved;
        WritePlot();
        return saved;
    }

    /// <summary><c>loss.png</c> from the metrics so far.</summary>
    public void WritePlot()
    {
        if (Writes) LossPlot.Write(MetricsLog.Read(Metrics.Path), Path.Combine(Directory, LossPlot.FileName));
    }

    /// <summary>A short hash of the data files' contents (null paths skipped), saved with a run and checked on resume.</summary>
    public static string Fingerprint(params string?[] paths)
    {
        using var sha = SHA256.Create();
        foreach (var path in paths.Where(p => p is not null))
        {
            using var f = File.OpenRead(path!);
            var hash = SHA256.HashData(f);
            sha.TransformBlock(hash, 0, hash.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexString(sha.Hash!)[..16].ToLowerInvariant();
    }

    public void Dispose() => metrics?.Dispose();
}
