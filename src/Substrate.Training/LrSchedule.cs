namespace Substrate.Training;

/// <summary>
/// Linear warmup then cosine decay to the minimum LR (nanoGPT's schedule). <see cref="At"/> takes
/// the 0-based index of the optimizer update: update i &lt; warmup uses lr·(i+1)/warmup; updates
/// from warmup to maxSteps follow min + ½(1 + cos(π·progress))·(lr − min); past maxSteps, min.
/// </summary>
public sealed record LrSchedule(double Lr, double MinLr, int WarmupSteps, int MaxSteps)
{
    public static LrSchedule From(TrainConfig train) => new(train.Lr, train.MinLr, train.WarmupSteps, train.MaxSteps);

    public double At(long step)
    {
        if (step < WarmupSteps) return Lr * (step + 1) / WarmupSteps;
        if (step >= MaxSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, MaxSteps - WarmupSteps); // [0, 1)
        return MinLr + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (Lr - MinLr);
    }
}
