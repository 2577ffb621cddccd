using Substrate.Models;
using Substrate.Training.Distributed;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training;

/// <summary>
/// One optimizer step of next-token prediction (pretraining): for each micro-step, fill a (B, T) batch, forward to logits in
/// the compute dtype, <see cref="NextTokenLoss"/> (the mean over B·T, backward of loss/accum), all inside the shared
/// <see cref="OptimizerStep"/>. Shared by the recipe, the benchmark and the compute planner. With <paramref name="parallel"/>,
/// B is this rank's share of the global batch and the gradients are averaged over the ranks.
/// </summary>
public sealed class TrainStep(LlamaForCausalLM model, AdamW optimizer, int batchSize, int seqLen, int gradAccumSteps, double gradClip,
    DataParallel? parallel = null) : IDisposable
{
    readonly long[] _inputs = new long[batchSize * seqLen], _targets = new long[batchSize * seqLen];
    readonly OptimizerStep _step = new(optimizer, gradClip, parallel);
    NextTokenLoss? _loss;

    /// <summary>Use the fused CPU cross-entropy where the logits allow it (default on).</summary>
    public bool FusedLoss { get; init; } = true;

    /// <summary>The last <see cref="Run"/>'s router loss (mixture of experts; mean over micro-steps and ranks); null for a dense model.</summary>
    public double? LastRouterLoss { get; private set; }

    /// <summary>Fills (inputs, targets) of micro-step m, each (B·T) row-major.</summary>
    public delegate void BatchFiller(int microStep, Span<long> inputs, Span<long> targets);

    public (double Loss, double GradNorm) Run(double lr, BatchFiller fill)
    {
        var device = model.Options.Device;
        int vocab = model.Config.VocabSize;
        var loss = _loss ??= new NextTokenLoss { Fused = FusedLoss };
        double? router = null;
        var (sum, gradNorm) = _step.Run(lr, gradAccumSteps, micro =>
        {
            fill(micro, _inputs, _targets);
            var logits = model.ComputeDtypeLogits(tensor(_inputs, [batchSize, seqLen], device: device)).view(-1, vocab); // (B·T, V) compute dtype
            router = RouterLossStep.Accumulate(router, RouterLossStep.Backward(model, gradAccumSteps)); // mixture of experts: load balancing and z-loss
            return loss.MeanBackward(logits, _targets, gradAccumSteps);
        });
        LastRouterLoss = router is double r ? parallel?.Average(r / gradAccumSteps) ?? r / gradAccumSteps : null;
        return (sum / gradAccumSteps, gradNorm);
    }

    /// <summary>Mean loss over batches without gradients (validation); under data parallelism, over every rank's slices.</summary>
    public double Evaluate(int batches, BatchFiller fill)
    {
        var device = model.Options.Device;
        int vocab = model.Config.VocabSize;
        double sum = 0;
        model.eval();
        using (no_grad())
            for (int i = 0; i < batches; i++)
            {
                using var scope = NewDisposeScope();
                fill(i, _inputs, _targets);
                var logits = model.forward(tensor(_inputs, [batchSize, seqLen], device: device)); // (B, T, V) fp32
                sum += F.cross_entropy(logits.view(-1, vocab), tensor(_targets, [batchSize * seqLen], device: device)).item<float>();
            }
        model.train();
        return parallel?.Average(sum / batches) ?? sum / batches;
    }

    public void Dispose() => _loss?.Dispose();
}
