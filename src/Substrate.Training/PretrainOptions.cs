namespace Substrate.Training;

/// <summary>What <see cref="Pretrainer.Run"/> trains on and where it writes (the CLI's <c>substrate pretrain</c> flags).</summary>
public sealed record PretrainOptions
{
    /// <summary>A folder written by <c>DataPreparer</c> (meta.json + shards).</summary>
    public required string DataDirectory { get; init; }
    /// <summary>The run folder: the model (HF folder), checkpoint/, metrics.jsonl, loss.png, train_config.json.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>A preset name or a JSON config file (<see cref="ConfigResolver.Resolve"/>). Ignored on resume.</summary>
    public string Config { get; init; } = "tiny";
    /// <summary><c>key=value</c> overrides of model or training keys, applied last (the command line's <c>--set</c>).</summary>
    public IReadOnlyList<string> Overrides { get; init; } = [];
    /// <summary>A typed configuration for a fresh run, used instead of <see cref="Config"/> and <see cref="Overrides"/> (library
    /// callers build it with <c>with</c>). Its vocab_size must hold the data's; a resumed run reads its checkpoint's.</summary>
    public PretrainConfig? Resolved { get; init; }
    /// <summary>Continue the run in <see cref="OutputDirectory"/> from its last checkpoint (starts fresh when there is none).</summary>
    public bool Resume { get; init; }
    /// <summary>Overrides max_steps (the schedule's length).</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Stop cleanly, with a checkpoint, once this much time has passed in this session.</summary>
    public TimeSpan? TimeLimit { get; init; }
    /// <summary>"cpu", "cuda", "cuda:1".</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>libtorch intra-op threads; 0: one per core.</summary>
    public int Threads { get; init; }
    /// <summary>Under mpirun: split the AdamW moments over the ranks (ZeRO stage 1, <c>--shard-optimizer</c>); the results equal an
    /// unsharded run's and the checkpoint holds the whole moments, so it resumes with or without sharding, with any rank count.</summary>
    public bool ShardOptimizer { get; init; }
    /// <summary>Peak FLOP/s for MFU; null: measured with large square matmuls in the compute dtype (~1 s).</summary>
    public double? PeakFlops { get; init; }

    public TrainingRuntime Runtime => new(Device, Threads);
}

/// <summary>How a run ended.</summary>
public sealed record PretrainResult(
    string OutputDirectory,
    int Step,
    long TokensSeen,
    double? FinalTrainLoss,
    double? FinalValidationLoss,
    string StopReason,
    IReadOnlyList<double> Losses)
{
    /// <summary>One line: why it stopped, where, the losses and the folder.</summary>
    public string Summary => $"{StopReason} at step {Step:N0} ({TokensSeen:N0} tokens); train loss {TrainProgress.Format(FinalTrainLoss)}, "
        + $"validation loss {TrainProgress.Format(FinalValidationLoss)} → {OutputDirectory}";
}
