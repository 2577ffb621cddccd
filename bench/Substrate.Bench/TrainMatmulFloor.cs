using System.Diagnostics;
using Substrate.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// The matrix products of one training step, each timed alone at its own shape (best of several runs, so other
/// processes' load inflates it least): forward, input gradient and weight gradient of every projection and the LM head,
/// and the attention products (¾ of the full score matrix from 128 positions, as the split causal path computes). Their sum is the step
/// time no element-wise work could go below with libtorch's products; tokens_per_s_bound is the throughput it allows.
/// Part of <c>train</c>: it tells how much of a step is products and how much is everything else.
/// </summary>
public static class TrainMatmulFloor
{
    public static Dictionary<string, object> Measure(ModelConfig c, ScalarType dtype, int batch, int seqLen)
    {
        Substrate.Nn.NativeMemory.RetainFreedMemory(); // as training runs: a freed product's memory is reused, not faulted in again
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long m = (long)batch * seqLen;
        int hd = c.HeadDim, rep = c.NumAttentionHeads / c.NumKeyValueHeads;
        var perLayer = new (string Name, long K, long N)[]
        {
            ("qkv", c.HiddenSize, (c.NumAttentionHeads + 2 * c.NumKeyValueHeads) * hd),
            ("o", c.NumAttentionHeads * hd, c.HiddenSize),
            ("gate_up", c.HiddenSize, 2L * c.IntermediateSize),
            ("down", c.IntermediateSize, c.HiddenSize),
        };
        var ms = new Dictionary<string, double>();
        foreach (var (name, k, n) in perLayer) ms[name] = c.NumHiddenLayers * Linear(m, k, n, dtype);
        ms["head"] = Linear(m, c.HiddenSize, c.VocabSize, dtype);

        // Attention per layer: scores (B·nKv, rep·T, hd)·(hd, T) and (rep·T, T)·(T, hd), forward and two backward products each.
        var q = randn(batch * c.NumKeyValueHeads, rep * seqLen, hd).to(dtype);
        var kv = randn(batch * c.NumKeyValueHeads, seqLen, hd).to(dtype);
        var p = randn(batch * c.NumKeyValueHeads, rep * seqLen, seqLen).to(dtype);
        double scores = Best(() => q.matmul(kv.transpose(1, 2))), weighted = Best(() => p.matmul(kv));
        double computed = seqLen >= 128 ? 0.75 : 1.0; // the share of the score matrix the eager path computes (its split causal path from 128 positions)
        ms["attention"] = c.NumHiddenLayers * computed * 3 * (scores + weighted);

        double total = ms.Values.Sum();
        var result = new Dictionary<string, object> { ["bench"] = "train_matmul_floor", ["dtype"] = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32" };
        foreach (var (name, value) in ms) result[name + "_ms"] = Math.Round(value, 2);
        result["total_ms"] = Math.Round(total, 1);
        result["tokens_per_s_bound"] = Math.Round(m / (total / 1000));
        return result;
    }

    /// <summary>Forward x·Wᵀ, input gradient dy·W and weight gradient dyᵀ·x of an (M×K) → (M×N) projection, in ms.</summary>
    static double Linear(long m, long k, long n, ScalarType dtype)
    {
        var x = randn(m, k).to(dtype);
        var w = randn(n, k).to(dtype);
        var dy = randn(m, n).to(dtype);
        return Best(() => nn.functional.linear(x, w)) + Best(() => dy.matmul(w)) + Best(() => dy.t().matmul(x));
    }

    /// <summary>The fastest of a few runs after a warm-up, in ms.</summary>
    static double Best(Func<Tensor> product)
    {
        product().Dispose();
        double best = double.MaxValue;
        for (int i = 0; i < 7; i++)
        {
            var clock = Stopwatch.StartNew();
            product().Dispose();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return best;
    }
}
