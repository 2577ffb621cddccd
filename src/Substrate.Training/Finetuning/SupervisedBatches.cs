using Substrate.Data.Instructions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training.Finetuning;

/// <summary>
/// The rows of optimizer step s, micro-step m: row (s·accum + m)·B + b of an endless stream that visits every
/// packed row once per epoch in an order shuffled by (seed, epoch) — a pure function of (seed, s, m), so a
/// resumed run sees the same batches.
/// </summary>
public sealed class SupervisedBatches(PackedRows rows, int batchSize, int gradAccumSteps, long seed)
{
    private readonly Dictionary<long, int[]> orders = new();

    public int BatchSize => batchSize;
    public int SeqLen => rows.SeqLen;

    /// <summary>Steps per epoch (at least 1).</summary>
    public int StepsPerEpoch => Math.Max(1, (int)Math.Ceiling(rows.Count / (double)(batchSize * gradAccumSteps)));

    public void Fill(int step, int micro, Span<long> inputs, Span<long> targets)
    {
        int t = rows.SeqLen;
        for (int b = 0; b < batchSize; b++)
        {
            long g = ((long)step * gradAccumSteps + micro) * batchSize + b;
            var order = Order(g / rows.Count);
            rows.Fill(order[(int)(g % rows.Count)], inputs.Slice(b * t, t), targets.Slice(b * t, t));
        }
    }

    private int[] Order(long epoch)
    {
        if (orders.TryGetValue(epoch, out var order)) return order;
        if (orders.Count > 4) orders.Clear();
        order = Enumerable.Range(0, rows.Count).ToArray();
        new Random(unchecked((int)(seed * 1_000_003 + epoch * 7919))).Shuffle(order); // seeded System.Random is stable across runs
        return orders[epoch] = order;
    }

    /// <summary>Sum over the batch of the masked cross-entropy, and the number of target tokens.</summary>
    public static (Tensor LossSum, long Count) MaskedLoss(Tensor logits, long[] targets, Device device) // logits (B, T, V)
    {
        var y = tensor(targets, [targets.Length], device: device);
        var loss = F.cross_entropy(logits.view(-1, logits.shape[^1]), y, ignore_index: PackedRows.Ignore, reduction: nn.Reduction.Sum);
        return (loss, targets.Count(v => v != PackedRows.Ignore));
    }
}
