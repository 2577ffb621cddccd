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
    string? Message = null)
{
    /// <summary>The live status: step, losses, learning rate, speed (MFU where measured).</summary>
    public string Status =>
        $"step {Step:N0}/{MaxSteps:N0} loss {Format(Loss)} val {Format(ValidationLoss)} lr {Lr:0.0e+0} {TokensPerSecond:N0} tok/s"
        + (Mfu > 0 ? $" MFU {Mfu:P1}" : "");

    /// <summary>The status's share of the run, or null when the run has no step count.</summary>
    public double? Fraction => MaxSteps > 0 ? (double)Step / MaxSteps : null;

    /// <summary>A line worth keeping for the events that are not a step (start, validation, checkpoint, end); null for a step.</summary>
    public string? EventLine => Event switch
    {
        TrainEvent.Validation => $"step {Step:N0} validation loss {Format(ValidationLoss)}" + (Message is { Length: > 0 } m ? $" ({m})" : ""),
        TrainEvent.Step => null,
        _ => Message,
    };

    /// <summary>Reports a run as <paramref name="line"/>s for its events (start, validation, checkpoint, end) and a live
    /// <paramref name="status"/> with its share done for every report.</summary>
    public static IProgress<TrainProgress> Reporter(Action<string> line, Action<string, double?> status) =>
        new Substrate.IO.InlineProgress<TrainProgress>(p =>
        {
            if (p.EventLine is string text) line(text);
            status(p.Status, p.Fraction);
        });

    /// <summary>A loss as the lines print it: three decimals, or "-" where there is none.</summary>
    public static string Format(double? value) => value is double v ? v.ToString("F3") : "-";
}
