using Substrate.Training.Distributed;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// The step every recipe takes: for each micro-step, the recipe's loss runs its forward and backward and hands back its
/// share of the step's loss (detached); then the global gradient norm, clipping folded into the AdamW update, and zeroed
/// gradients. One dispose scope for the step; the shares are summed where they lie and read once (one host sync). Under
/// data parallelism the gradients and the loss are averaged over the ranks before the norm, so every rank takes the same update.
/// </summary>
public sealed class OptimizerStep(AdamW optimizer, double gradClip, DataParallel? parallel = null)
{
    /// <summary>Forward and backward of micro-step m; returns its share of the step's loss (a detached scalar).</summary>
    public delegate Tensor MicroStepLoss(int microStep);

    public (double Loss, double GradNorm) Run(double lr, int microSteps, MicroStepLoss loss)
    {
        using var scope = NewDisposeScope();
        Tensor? sum = null;
        for (int micro = 0; micro < microSteps; micro++)
        {
            var share = loss(micro);
            sum = sum is null ? share : sum + share;
        }
        double total = sum!.to(ScalarType.Float64).item<double>();
        if (parallel is not null)
        {
            parallel.AverageGradients();
            total = parallel.Average(total);
        }
        double gradNorm = optimizer.GradNorm();
        if (!double.IsFinite(total) || !double.IsFinite(gradNorm))
        {
            optimizer.ZeroGrad(); // the weights and moments stay as they were
            throw new NonFiniteLossException($"the loss is {total} and the gradient norm {gradNorm}");
        }
        optimizer.Step(lr, AdamW.ClipScale(gradNorm, gradClip));
        optimizer.ZeroGrad();
        return (total, gradNorm);
    }
}

/// <summary>A step whose loss or gradient is NaN or infinite: the run stops rather than train on (and checkpoint) garbage.</summary>
public sealed class NonFiniteLossException(string message) : InvalidOperationException(message);
