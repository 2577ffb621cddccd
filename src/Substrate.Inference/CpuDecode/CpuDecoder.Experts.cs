using System.Numerics.Tensors;
using Substrate.Models;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// The mixture-of-experts step of <see cref="CpuDecoder"/>: the router scores the E experts on norm(x), the softmax's top k
/// (renormalised where the config says) pick the experts, and only those k experts' weights are read, each run as the
/// dense MLP's two jobs with its routing weight on the output; Qwen2-MoE's shared expert follows, weighted by
/// sigmoid(shared_expert_gate · norm(x)). As <see cref="SparseMoe"/> routes.
/// </summary>
public sealed unsafe partial class CpuDecoder
{
    private float* routerNormed; // (H) norm(x), the router's input
    private float* routerPacked; // (H) its packed form for bf16/fp16 weights
    private float* routerRow;    // (H) a row's scratch
    private float* routerScores; // (E) router logits, then probabilities
    private int[] chosen = [];   // (k) the experts of this token

    private void AllocateRouter(ModelConfig config)
    {
        if (config.ExpertCount == 0) return;
        routerNormed = Allocate(hidden);
        routerPacked = Allocate(hidden);
        routerRow = Allocate(hidden);
        routerScores = Allocate(config.ExpertCount);
        chosen = new int[config.ExpertsPerToken];
    }

    /// <summary>Tokens routed to each expert since the decoder was built: [layer][expert] (zeros for dense layers).</summary>
    public long[][] ExpertTokens => expertTokens ??= weights.Layers.Select(l => new long[l.Experts?.Gate.Length ?? 0]).ToArray();

    private long[][]? expertTokens;

    /// <summary>
    /// The router's decision margin in each layer at the last position run: logit(k-th chosen) − logit(best unchosen)
    /// (+∞ for dense layers, or when every expert is chosen). A margin within fp32 rounding of 0 is a near-tie that another
    /// order of the router product's adds (another implementation's) could flip, sending the token to another expert.
    /// </summary>
    public float[] RouterMargins => routerMargins ??= [.. weights.Layers.Select(_ => float.PositiveInfinity)];

    private float[]? routerMargins;

    private void RunExperts(CpuDecoderWeights.Layer w, CpuDecoderExperts experts)
    {
        var e = experts.Gate.Length;
        CpuKernels.RmsNorm(x, Pin(w.PreFeedforwardNorm ?? w.PostAttentionNorm), routerNormed, hidden, eps);
        var input = CpuKernels.Input(experts.Router, routerNormed, routerPacked);
        CpuKernels.MatVec(experts.Router, 0, e, input, routerScores, routerRow); // (E) logits
        var probabilities = new Span<float>(routerScores, e);
        TensorPrimitives.SoftMax(probabilities, probabilities);
        float total = 0;
        for (var j = 0; j < chosen.Length; j++) // top-k by selection: the largest not yet chosen, the lower index on ties
        {
            var best = -1;
            for (var i = 0; i < e; i++)
                if (Array.IndexOf(chosen, i, 0, j) < 0 && (best < 0 || probabilities[i] > probabilities[best])) best = i;
            chosen[j] = best;
            total += probabilities[best];
        }
        RouterMargins[layer] = Margin(probabilities);
        var counts = ExpertTokens[layer];
        mlpNormed = routerNormed; // every expert reads norm(x) of before the first one added its output to x
        foreach (var expert in chosen)
        {
            counts[expert]++;
            var weight = experts.Renormalize ? probabilities[expert] / total : probabilities[expert];
            RunMlp(experts.Gate[expert], experts.Up[expert], experts.Down[expert], weight);
        }
        if (experts.Shared is { } shared && experts.SharedGate is { } gate)
        {
            var logit = TensorPrimitives.Dot(new ReadOnlySpan<float>(routerNormed, hidden), gate);
            RunMlp(shared[0], shared[1], shared[2], 1f / (1f + MathF.Exp(-logit)));
        }
        mlpNormed = null;
    }

    /// <summary>log(p of the k-th chosen / p of the best unchosen) = the logit gap (softmax keeps ratios of exponentials).</summary>
    private float Margin(ReadOnlySpan<float> probabilities)
    {
        float runnerUp = -1;
        for (var i = 0; i < probabilities.Length; i++)
            if (Array.IndexOf(chosen, i) < 0) runnerUp = Math.Max(runnerUp, probabilities[i]);
        return runnerUp < 0 ? float.PositiveInfinity : MathF.Log(probabilities[chosen[^1]] / runnerUp);
    }
}
