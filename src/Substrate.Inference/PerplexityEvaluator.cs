using Substrate.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Inference;

/// <summary>Mean negative log-likelihood (nats per token) of the scored tokens and its exponential.</summary>
public sealed record PerplexityResult(double MeanNll, double Perplexity, long Tokens)
{
    /// <summary>One line: tokens scored, mean negative log-likelihood, perplexity.</summary>
    public string Summary => $"{Tokens:N0} tokens, mean NLL {MeanNll:F4}, perplexity {Perplexity:F2}";
}

/// <summary>
/// Perplexity of a model over a token sequence: windows of the context length, every token after the
/// first predicted exactly once. With <c>stride</c> = context the windows do not overlap; a smaller
/// stride slides them (Hugging Face's method) so each scored token sees up to context − stride tokens
/// of history. Windows of equal length run in batches, under no_grad.
/// </summary>
public sealed class PerplexityEvaluator
{
    private readonly LlamaForCausalLM model;
    private readonly int context, stride, batchSize;

    public PerplexityEvaluator(LlamaForCausalLM model, int? contextLength = null, int? stride = null, int batchSize = 8)
    {
        this.model = model;
        var max = model.Config.MaxPositionEmbeddings;
        context = contextLength ?? max;
        if (context < 1 || context > max) throw new ArgumentOutOfRangeException(nameof(contextLength), $"context must be in [1, {max}] (got {context})");
        this.stride = stride ?? context;
        if (this.stride < 1 || this.stride > context)
            throw new ArgumentOutOfRangeException(nameof(stride), $"stride must be in [1, {context}] (got {this.stride})");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize));
        this.batchSize = batchSize;
    }

    public PerplexityResult Evaluate(IReadOnlyList<int> tokens)
    {
        if (tokens.Count < 2) throw new ArgumentException("perplexity needs at least two tokens");
        var windows = Windows(tokens.Count);
        double nll = 0;
        long scored = 0;
        for (var i = 0; i < windows.Count;)
        {
            var length = windows[i].End - windows[i].Begin;
            var batch = windows.Skip(i).Take(batchSize).TakeWhile(w => w.End - w.Begin == length).ToList();
            nll += BatchNll(tokens, batch, length);
            scored += batch.Sum(w => (long)w.Scored);
            i += batch.Count;
        }
        var mean = nll / scored;
        return new PerplexityResult(mean, Math.Exp(mean), scored);
    }

    /// <summary>Windows of input positions [Begin, End) predicting tokens [Begin+1, End]; the last Scored of them count.</summary>
    private List<(int Begin, int End, int Scored)> Windows(int n)
    {
        var windows = new List<(int, int, int)>();
        var lastScored = 0; // tokens [1, lastScored] are scored
        for (var begin = 0; lastScored < n - 1; begin += stride)
        {
            var end = Math.Min(begin + context, n - 1);
            windows.Add((begin, end, end - lastScored));
            lastScored = end;
        }
        return windows;
    }

    private double BatchNll(IReadOnlyList<int> tokens, List<(int Begin, int End, int Scored)> batch, int length)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = new long[batch.Count * length];
        var targets = new long[batch.Count * length];
        var weights = new float[batch.Count * length];
        for (var b = 0; b < batch.Count; b++)
        {
            var (begin, _, scoredCount) = batch[b];
            for (var t = 0; t < length; t++)
            {
                inputs[b * length + t] = tokens[begin + t];
                targets[b * length + t] = tokens[begin + t + 1];
                weights[b * length + t] = t >= length - scoredCount ? 1 : 0;
            }
        }
        var device = model.Options.Device;
        var logits = model.call(tensor(inputs, [batch.Count, length], device: device));                     // (n, L, V) fp32
        var losses = F.cross_entropy(logits.view(-1, logits.shape[^1]), tensor(targets, device: device), reduction: nn.Reduction.None); // (n·L)
        return (losses.to(ScalarType.Float64) * tensor(weights, device: device)).sum().item<double>();
    }
}
