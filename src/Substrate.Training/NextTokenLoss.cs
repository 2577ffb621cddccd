using Substrate.Data.Instructions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training;

/// <summary>
/// Cross-entropy of next-token logits, run backward for a training step: on CPU through <see cref="FusedCrossEntropy"/>
/// (reading the logits in the compute dtype, the gradient into a reused (N, V) buffer); elsewhere, or with
/// <see cref="Fused"/> off, through libtorch's cross_entropy on an fp32 copy. Both give the same math; pretraining takes the
/// mean over every target, fine-tuning the sum over the unmasked ones (<see cref="PackedRows.Ignore"/>) over a step-wide count.
/// </summary>
public sealed class NextTokenLoss : IDisposable
{
    Tensor? gradBuffer; // (N, V) in the logits' dtype, reused every micro-step

    /// <summary>Use the fused CPU cross-entropy where the logits allow it (default on).</summary>
    public bool Fused { get; init; } = true;

    /// <summary>Backward of mean / <paramref name="divisor"/>, the mean over all N targets of (N, V) logits; returns the mean.</summary>
    public Tensor MeanBackward(Tensor logits, long[] targets, int divisor)
    {
        if (Fused && FusedCrossEntropy.Supports(logits))
        {
            var grad = Buffer(logits);
            double mean;
            using (no_grad()) mean = FusedCrossEntropy.Run(logits, targets, grad, 1.0 / divisor);
            logits.backward([grad]);
            return tensor(mean);
        }
        var loss = F.cross_entropy(logits.to(ScalarType.Float32), tensor(targets, [targets.Length], device: logits.device)); // mean, fp32
        (loss / divisor).backward();
        return loss.detach();
    }

    /// <summary>Backward of Σ / <paramref name="count"/>, the sum over the targets other than <see cref="PackedRows.Ignore"/>; returns it.</summary>
    public Tensor MaskedBackward(Tensor logits, long[] targets, double count)
    {
        double n = Math.Max(1, count);
        if (Fused && FusedCrossEntropy.Supports(logits))
        {
            var grad = Buffer(logits);
            double sum;
            using (no_grad()) sum = FusedCrossEntropy.RunSum(logits, targets, grad, 1.0 / n, PackedRows.Ignore);
            logits.backward([grad]);
            return tensor(sum / n);
        }
        var y = tensor(targets, [targets.Length], device: logits.device);
        var loss = F.cross_entropy(logits.to(ScalarType.Float32), y, ignore_index: PackedRows.Ignore, reduction: nn.Reduction.Sum) / n;
        loss.backward();
        return loss.detach();
    }

    Tensor Buffer(Tensor logits)
    {
        if (gradBuffer is null || !gradBuffer.shape.SequenceEqual(logits.shape) || gradBuffer.dtype != logits.dtype)
        {
            gradBuffer?.Dispose();
            gradBuffer = empty(logits.shape, logits.dtype).DetachFromDisposeScope();
        }
        return gradBuffer;
    }

    public void Dispose() => gradBuffer?.Dispose();
}
