namespace Substrate.Training.Finetuning;

/// <summary>What <see cref="Finetuner.Run"/> trains and where it writes (the flags of <c>substrate finetune</c>).</summary>
public sealed record FinetuneOptions
{
    /// <summary>The base model folder (HF layout, with its tokenizer).</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>Instruction JSONL (.gz allowed): prompt/completion or chat records.</summary>
    public required string DataPath { get; init; }
    /// <summary>Optional held-out JSONL; without it <see cref="FinetuneConfig.ValFraction"/> of the data is held out.</summary>
    public string? ValidationPath { get; init; }
    /// <summary>The run folder: the adapter (PEFT) or the model (HF), checkpoint/, metrics.jsonl, loss.png, finetune_config.json.</summary>
    public required string OutputDirectory { get; init; }
    public FinetuneConfig Config { get; init; } = new();
    /// <summary>The <c>--set key=value</c> assignments as given (already in <see cref="Config"/>); on --resume they apply to the run's
    /// saved config, where only batch_size and grad_accum_steps may change (<see cref="FinetuneConfig.Resumed"/>).</summary>
    public IReadOnlyList<string> Overrides { get; init; } = [];
    public bool Resume { get; init; }
    public TimeSpan? TimeLimit { get; init; }
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    /// <summary>Under mpirun: split the trainable parameters' AdamW moments over the ranks (ZeRO stage 1, <c>--shard-optimizer</c>), as
    /// <see cref="PretrainOptions.ShardOptimizer"/> does.</summary>
    public bool ShardOptimizer { get; init; }

    public TrainingRuntime Runtime => new(Device, Threads);
}

/// <summary>How a fine-tuning run ended, and what it cost.</summary>
public sealed record FinetuneResult(
    string OutputDirectory,
    string Method,
    int Step,
    double? FinalTrainLoss,
    double? BestValidationLoss,
    int BestStep,
    string StopReason,
    long TrainableParameters,
    long TotalParameters,
    double TrainSeconds,
    double MeanStepSeconds,
    long OutputBytes,
    long TokensSeen = 0)   // the tokens the loss counted (completions and assistant turns), summed over the steps
{
    /// <summary>One line: why it stopped, the losses, what trained, how long, and the folder.</summary>
    public string Summary => $"{StopReason} at step {Step}; train loss {TrainProgress.Format(FinalTrainLoss)}, "
        + $"best validation loss {TrainProgress.Format(BestValidationLoss)} (step {BestStep}); {TrainableParameters:N0} trainable of "
        + $"{TotalParameters:N0} parameters; {TrainSeconds:F1}s ({MeanStepSeconds * 1000:F0} ms/step) → {OutputDirectory}";
}
