using System.Diagnostics;
using Substrate.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// The matrix products of one training step, each timed alone at its own shape (the fastest of 15 rounds over all of
/// them, so other processes' load inflates it least): forward, input gradient and weight gradient of every projection and the LM head,
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
        // Every product is timed once per round, rounds spread over a few seconds, and each keeps its fastest round:
        // a slow minute of this shared machine then inflates one round, not all of one product's runs.
        var products = new List<(string Name, double Count, Func<Tensor> Run)>();
        foreach (var (name, k, n) in perLayer) AddLinear(products, name, c.NumHiddenLayers, m, k, n, dtype);
        AddLinear(products, "head", 1, m, c.HiddenSize, c.VocabSize, dtype);

        // Attention per layer: scores (B·nKv, rep·T, hd)·(hd, T) and (rep·T, T)·(T, hd), forward and two backward products each.
        var q = randn(batch * c.NumKeyValueHeads, rep * seqLen, hd).to(dtype);
        var kv = randn(batch * c.NumKeyValueHeads, seqLen, hd).to(dtype);
        var p = randn(batch * c.NumKeyValueHeads, rep * seqLen, seqLen).to(dtype);
        double computed = seqLen >= 128 ? 0.75 : 1.0; // the share of the score matrix the eager path computes (its split causal path from 128 positions)
        products.Add(("attention", c.NumHiddenLayers * computed * 3, () => q.matmul(kv.transpose(1, 2))));
        products.Add(("attention", c.NumHiddenLayers * computed * 3, () => p.matmul(kv)));

        var best = products.Select(_ => double.MaxValue).ToArray();
        foreach (var product in products) product.Run().Dispose(); // warm-up
        for (int round = 0; round < Rounds; round++)
            for (int i = 0; i < products.Count; i++)
            {
                var clock = Stopwatch.StartNew();
                products[i].Run().Dispose();
                best[i] = Math.Min(best[i], clock.Elapsed.TotalMilliseconds);
            }
        var ms = new Dictionary<string, double>();
        for (int i = 0; i < products.Count; i++)
            ms[products[i].Name] = ms.GetValueOrDefault(products[i].Name) + products[i].Count * best[i];

        double total = ms.Values.Sum();
        var result = new Dictionary<string, object> { ["bench"] = "train_matmul_floor", ["dtype"] = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32" };
        foreach (var (name, value) in ms) result[name + "_ms"] = Math.Round(value, 2);
        result["total_ms"] = Math.Round(total, 1);
        result["tokens_per_s_bound"] = Math.Round(m / (total / 1000));
        return result;
    }

    const int Rounds = 15;

    /// <summary>Forward x·Wᵀ, input gradient dy·W and weight gradient dyᵀ·x of an (M×K) → (M×N) projection, <paramref name="count"/> per step.</summary>
    static void AddLinear(List<(string, double, Func<Tensor>)> products, string name, double count, long m, long k, long n, ScalarType dtype)
    {
        var x = randn(m, k).to(dtype);
        var w = randn(n, k).to(dtype);
        var dy = randn(m, n).to(dtype);
        products.Add((name, count, () => nn.functional.linear(x, w)));
        products.Add((name, count, () => dy.matmul(w)));
        products.Add((name, count, () => dy.t().matmul(x)));
    }
}
