using Substrate.Data.Instructions;
using Substrate.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training.Finetuning;

/// <summary>
/// The rows of optimizer step s, micro-step m: row (s·accum + m)·B + b of an endless stream that visits every
/// packed row once per epoch in an order shuffled by (seed, epoch) — a pure function of (seed, s, m), so a
/// resumed run sees the same batches. Under data parallelism a step's global batch is <paramref name="ranks"/> × B rows and
/// rank k fills rows [k·B, (k+1)·B) of it, so N ranks × B see the rows one process × N·B does.
/// </summary>
public sealed class SupervisedBatches(PackedRows rows, int batchSize, int gradAccumSteps, long seed, int ranks = 1, int rank = 0)
{
    private readonly EpochOrder order = new(rows.Count, seed);

    public int BatchSize => batchSize;
    public int SeqLen => rows.SeqLen;

    /// <summary>Steps per epoch (at least 1).</summary>
    public int StepsPerEpoch => Math.Max(1, (int)Math.Ceiling(rows.Count / (double)(batchSize * ranks * gradAccumSteps)));

    /// <summary>B rows of T inputs, targets and (when <paramref name="segments"/> is not empty) segment ids, row-major.</summary>
    public void Fill(int step, int micro, Span<long> inputs, Span<long> targets, Span<long> segments = default)
    {
        int t = rows.SeqLen;
        for (int b = 0; b < batchSize; b++)
        {
            int row = order.At(((long)step * gradAccumSteps + micro) * batchSize * ranks + rank * batchSize + b);
            rows.Fill(row, inputs.Slice(b * t, t), targets.Slice(b * t, t), segments.IsEmpty ? default : segments.Slice(b * t, t));
        }
    }

    /// <summary>Logits of B rows of T tokens: (B, T, V). With segment ids, packed examples keep to themselves
    /// (their own positions, attention within the example); without, the plain causal forward.</summary>
    public static Tensor Logits(LlamaForCausalLM model, long[] inputs, long[]? segments, int batch, int seqLen, Device device)
    {
        var ids = tensor(inputs, [batch, seqLen], device: device); // (B, T)
        return segments is null ? model.forward(ids) : model.forward(ids, PackedLayout.FromSegments(segments, batch, seqLen, device));
    }

    /// <summary>The same logits for training, left in the compute dtype and flattened: (B·T, V), for <see cref="NextTokenLoss"/>.</summary>
    public static Tensor TrainingLogits(LlamaForCausalLM model, long[] inputs, long[]? segments, int batch, int seqLen, Device device)
    {
        var ids = tensor(inputs, [batch, seqLen], device: device); // (B, T)
        var logits = segments is null ? model.ComputeDtypeLogits(ids)
            : model.ComputeDtypeLogits(ids, PackedLayout.FromSegments(segments, batch, seqLen, device)); // (B, T, V)
        return logits.view(-1, logits.shape[^1]); // (B·T, V) compute dtype
    }

    /// <summary>Sum over the batch of the masked cross-entropy, and the number of target tokens.</summary>
    public static (Tensor LossSum, long Count) MaskedLoss(Tensor logits, long[] targets, Device device) // logits (B, T, V)
    {
        var y = tensor(targets, [targets.Length], device: device);
        var loss = F.cross_entropy(logits.view(-1, logits.shape[^1]), y, ignore_index: PackedRows.Ignore, reduction: nn.Reduction.Sum);
        return (loss, targets.Count(v => v != PackedRows.Ignore));
    }
}
