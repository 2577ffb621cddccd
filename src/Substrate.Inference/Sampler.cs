using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Inference;

/// <summary>
/// Picks the next token from one position's logits: repetition penalty, logit bias, then temperature
/// (0 = argmax), top-k, top-p, and a draw from a seeded <see cref="torch.Generator"/>.
/// Safe for every accepted value: a penalty of 1e-300 or a temperature of 1e-38 overflows to the largest float, never to
/// infinity minus infinity, so the distribution is never NaN; logits that already hold NaN are an error, not a draw.
/// </summary>
public sealed class Sampler : IDisposable
{
    private readonly double temperature, topP, repetitionPenalty;
    private readonly int topK;
    private readonly torch.Generator random;
    private readonly IReadOnlyDictionary<int, double> bias;

    public Sampler(double temperature = 1.0, int topK = 0, double topP = 1.0, double repetitionPenalty = 1.0, long? seed = null,
        IReadOnlyDictionary<int, double>? logitBias = null)
    {
        (this.temperature, this.topK, this.topP, this.repetitionPenalty) = (temperature, topK, topP, repetitionPenalty);
        bias = logitBias ?? new Dictionary<int, double>();
        random = new torch.Generator((ulong)(seed ?? Random.Shared.NextInt64()));
    }

    public Sampler(GenerationOptions options)
        : this(options.Temperature, options.TopK, options.TopP, options.RepetitionPenalty, options.Seed, options.LogitBias) { }

    /// <summary>As <see cref="Sample(Tensor, IReadOnlyCollection{int})"/> for logits in memory; greedy decoding
    /// (the repetition penalty, then argmax) runs here without TorchSharp ops, with the same result.</summary>
    public int Sample(ReadOnlySpan<float> logits, IReadOnlyCollection<int> context)
    {
        if (temperature != 0)
        {
            using var x = tensor(logits.ToArray()); // (V)
            return Sample(x, context);
        }
        var (best, bestValue) = (-1, double.NegativeInfinity);
        var penalized = repetitionPenalty != 1.0 && context.Count > 0 ? new HashSet<int>(context) : null;
        for (var i = 0; i < logits.Length; i++)
        {
            double value = logits[i];
            if (double.IsNaN(value)) throw NonFinite();
            if (penalized?.Contains(i) == true)
                value = Math.Clamp(value > 0 ? value / repetitionPenalty : value * repetitionPenalty, -float.MaxValue, float.MaxValue);
            if (bias.Count > 0 && bias.TryGetValue(i, out var b)) value += b;
            if (value > bestValue || best < 0) (best, bestValue) = (i, value);
        }
        return best;
    }

    /// <summary>The next token id for logits (V) given the ids so far (for the repetition penalty).</summary>
    public int Sample(Tensor logits, IReadOnlyCollection<int> context)
    {
        using var scope = NewDisposeScope();
        var x = logits.to(ScalarType.Float32, CPU).reshape(-1); // (V)
        if (x.isnan().any().item<bool>()) throw NonFinite();
        if (repetitionPenalty != 1.0 && context.Count > 0)
        {
            var seen = tensor(context.Distinct().Select(i => (long)i).ToArray());          // (n)
            var old = x.index_select(0, seen);                                               // (n)
            var penalized = where(old > 0, old / repetitionPenalty, old * repetitionPenalty); // (n), ±inf for a tiny penalty
            x = x.index_copy(0, seen, penalized.clamp(-float.MaxValue, float.MaxValue));
        }
        if (bias.Count > 0)
        {
            var ids = tensor(bias.Keys.Select(i => (long)i).ToArray());                      // (n)
            x = x.index_add(0, ids, tensor(bias.Values.Select(b => (float)b).ToArray()), 1); // (V); -inf (masked) stays -inf
        }
        if (temperature == 0) return (int)x.argmax().item<long>();
        x = (x - x.max()) / temperature; // ≤ 0 and the best exactly 0: a tiny temperature gives -inf, never inf - inf
        if (topK > 0 && topK < x.shape[0])
        {
            var kth = x.topk(topK).values[topK - 1];
            x = x.masked_fill(x < kth, double.NegativeInfinity);
        }
        if (topP < 1.0)
        {
            var (sorted, order) = x.sort(descending: true);               // (V) each
            var probs = sorted.softmax(-1);
            var before = probs.cumsum(-1) - probs;                         // probability mass ahead of each token
            var drop = before >= topP;                                     // a topP below float's range compares as 0
            drop[0] = false;                                               // the first token always stays
            sorted = sorted.masked_fill(drop, double.NegativeInfinity);
            x = full_like(x, double.NegativeInfinity).scatter(0, order, sorted);
        }
        return (int)multinomial(x.softmax(-1), 1, generator: random).item<long>();
    }

    private static InvalidOperationException NonFinite() => new("the model's logits hold NaN (are its weights corrupt?)");

    public void Dispose() => random.Dispose();
}
