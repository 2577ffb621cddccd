namespace Substrate.Training;

public enum TrainEvent
{
    /// <summary>The run is set up (Message says fresh or resumed, and the model size).</summary>
    Started,
    /// <summary>An optimizer step finished.</summary>
    Step,
    /// <summary>Validation loss was measured.</summary>
    Validation,
    /// <summary>A checkpoint was written (Message: its folder).</summary>
    Checkpoint,
    /// <summary>The run ended (Message: why).</summary>
    Finished,
}

/// <summary>
/// One report of a pretraining run, for the caller to render (the library prints nothing).
/// Loss is the step's mean training loss over its micro-steps; TokensPerSecond is measured over
/// recent steps; Mfu = TokensPerSecond · FLOPs/token ÷ peak FLOP/s.
/// </summary>
public sealed record TrainProgress(
    TrainEvent Event,
    int Step,
    int MaxSteps,
    double? Loss,
    double? ValidationLoss,
    double Lr,
    double GradNorm,
    long TokensSeen,
    double TokensPerSecond,
    double Mfu,
    TimeSpan Elapsed,
    TimeSpan? Eta,
    string? Message = null);
