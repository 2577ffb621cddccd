using Substrate.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training;

/// <summary>
/// One optimizer step of next-token prediction: for each micro-step, fill a (B, T) batch, forward,
/// cross-entropy on the (B·T, V) logits, backward of loss/accum; then the global gradient norm,
/// clipping folded into the AdamW update, and zeroed gradients. One dispose scope for the step;
/// one host sync (the loss). On CPU the loss and its gradient come from
/// <see cref="FusedCrossEntropy"/>, reading the logits in the compute dtype, into a reused (B·T, V) buffer; elsewhere (or with
/// <see cref="FusedLoss"/> off) from libtorch's cross_entropy. Shared by the recipe, the benchmark
/// and the compute planner.
/// </summary>
public sealed class TrainStep(LlamaForCausalLM model, AdamW optimizer, int batchSize, int seqLen, int gradAccumSteps, double gradClip) : IDisposable
{
    readonly long[] _inputs = new long[batchSize * seqLen], _targets = new long[batchSize * seqLen];
    Tensor? _logitsGrad; // (B·T, V) in the compute dtype, reused every micro-step

    /// <summary>Use the fused CPU cross-entropy where the logits allow it (default on).</summary>
    public bool FusedLoss { get; init; } = true;

    /// <summary>Fills (inputs, targets) of micro-step m, each (B·T) row-major.</summary>
    public delegate void BatchFiller(int microStep, Span<long> inputs, Span<long> targets);

    public (double Loss, double GradNorm) Run(double lr, BatchFiller fill)
    {
        var device = model.Options.Device;
        int vocab = model.Config.VocabSize;
        using var scope = NewDisposeScope();
        var lossSum = zeros(1, device: device); // reference path: summed on the device, read once
        double fusedLossSum = 0;
        for (int micro = 0; micro < gradAccumSteps; micro++)
        {
            fill(micro, _inputs, _targets);
            var logits = model.ComputeDtypeLogits(tensor(_inputs, [batchSize, seqLen], device: device)).view(-1, vocab); // (B·T, V) compute dtype
            if (FusedLoss && FusedCrossEntropy.Supports(logits))
            {
                _logitsGrad ??= empty(logits.shape, logits.dtype).DetachFromDisposeScope();
                using (no_grad()) fusedLossSum += FusedCrossEntropy.Run(logits, _targets, _logitsGrad, 1.0 / gradAccumSteps);
                logits.backward([_logitsGrad]);
                continue;
            }
            var loss = F.cross_entropy(logits.to(ScalarType.Float32), tensor(_targets, [batchSize * seqLen], device: device)); // mean over B·T, fp32
            (loss / gradAccumSteps).backward();
            lossSum.add_(loss.detach());
        }
        double meanLoss = (fusedLossSum + lossSum.item<float>()) / gradAccumSteps;
        double gradNorm = optimizer.GradNorm();
        optimizer.Step(lr, AdamW.ClipScale(gradNorm, gradClip));
        optimizer.ZeroGrad();
        return (meanLoss, gradNorm);
    }

    /// <summary>Mean loss over batches without gradients (validation).</summary>
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
        return sum / batches;
    }

    public void Dispose() => _logitsGrad?.Dispose();
}
