using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// Top-k routing of a mixture of experts, as Mixtral and Qwen MoE do it, and the router's training losses.
/// Shapes: N tokens, E experts, k experts per token, H hidden size.
/// </summary>
public static class ExpertRouting
{
    /// <summary>
    /// softmax over all E experts in fp32, the k largest, renormalised over the chosen k where <paramref name="renormalize"/>
    /// (Mixtral; Qwen MoE with norm_topk_prob): weights (N, k) in <paramref name="dtype"/>, experts (N, k) int64.
    /// </summary>
    public static (Tensor Weights, Tensor Experts) Route(Tensor routerLogits, int k, bool renormalize, ScalarType dtype) // (N, E)
    {
        using var scope = NewDisposeScope();
        var probabilities = routerLogits.softmax(-1, ScalarType.Float32); // (N, E) fp32
        var (weights, experts) = probabilities.topk(k, -1);                 // (N, k) each
        if (renormalize) weights = weights / weights.sum(-1, keepdim: true);
        return (weights.to(dtype).MoveToOuterDisposeScope(), experts.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Σ over each token's chosen experts of weight · expert(x), computing each expert once on the rows routed to it (no
    /// dense compute of unused experts): the N·k (token, expert) pairs sorted by expert, the rows gathered, one call per
    /// expert that has rows, the weighted outputs added back to their tokens. <paramref name="expert"/> gets (e, its rows
    /// (count, H), their token indices (count) int64) — the indices let a batch that mixes LoRA adapters pick each row's.
    /// </summary>
    public static Tensor Dispatch(Tensor x, Tensor weights, Tensor experts, int expertCount, Func<int, Tensor, Tensor, Tensor> expert)
    {   // x (N, H); weights (N, k); experts (N, k) → (N, H) in x's dtype
        using var scope = NewDisposeScope();
        var k = experts.shape[1];
        var (_, order) = experts.reshape(-1).sort(stable: true);                    // (N·k): pair indices grouped by expert
        var counts = experts.reshape(-1).bincount(null, expertCount).cpu().data<long>().ToArray(); // (E) pairs per expert
        var tokens = order.div(k, rounding_mode: RoundingMode.floor);                // (N·k): the token of each sorted pair
        var sortedWeights = weights.reshape(-1).index_select(0, order).unsqueeze(1); // (N·k, 1)
        var rows = x.index_select(0, tokens);                                        // (N·k, H)
        var outputs = new List<Tensor>();
        long offset = 0;
        for (int e = 0; e < expertCount; e++)
        {
            if (counts[e] == 0) continue;
            var (expertRows, expertTokens) = (rows.narrow(0, offset, counts[e]), tokens.narrow(0, offset, counts[e]));
            outputs.Add(expert(e, expertRows, expertTokens) * sortedWeights.narrow(0, offset, counts[e])); // (count, H)
            offset += counts[e];
        }
        var y = zeros_like(x);
        if (outputs.Count == 0) return y.MoveToOuterDisposeScope();
        return y.index_add_(0, tokens, cat(outputs, 0), 1).MoveToOuterDisposeScope(); // (N, H)
    }

    /// <summary>
    /// Tokens routed to each expert: (E) counts of <paramref name="routerLogits"/>' top-k choices, (N, E) logits in.
    /// </summary>
    public static long[] TokensPerExpert(Tensor routerLogits, int k)
    {
        using var scope = NewDisposeScope();
        var experts = routerLogits.topk(k, -1).indexes.reshape(-1); // (N·k)
        return experts.bincount(null, routerLogits.shape[1]).cpu().data<long>().ToArray();
    }

    /// <summary>
    /// The Switch Transformer / Mixtral load-balancing loss, as transformers' <c>load_balancing_loss_func</c>: over the router
    /// logits of all sparse layers stacked, (N, E), E · Σₑ fₑ · Pₑ, with fₑ the share of tokens whose top-k holds e (summed
    /// over the k choices) and Pₑ the mean router probability of e. 1·k when routing is uniform.
    /// </summary>
    public static Tensor LoadBalancingLoss(Tensor routerLogits, int k) // (N, E) → scalar fp32
    {
        using var scope = NewDisposeScope();
        var e = routerLogits.shape[1];
        var probabilities = routerLogits.softmax(-1, ScalarType.Float32);                             // (N, E)
        var chosen = probabilities.topk(k, -1).indexes;                                                 // (N, k)
        var tokenShare = nn.functional.one_hot(chosen, e).to(ScalarType.Float32).mean([0]);             // (k, E)
        var meanProbability = probabilities.mean([0]);                                                  // (E)
        return ((tokenShare * meanProbability.unsqueeze(0)).sum() * e).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The load-balancing loss of each sparse layer, averaged: (N, E) logits per layer → scalar fp32. transformers concatenates
    /// the layers' logits into one (L·N, E) before <see cref="LoadBalancingLoss(Tensor, int)"/>, which only balances the
    /// experts' shares summed over layers: layers that each collapse onto different experts score as balanced (measured in
    /// moe-vs-dense: the loss at its uniform value k while 3 of 4 layers sent every token to 2-3 experts). Per layer, as the
    /// Switch Transformer applies it, each layer's router is pushed towards its own balance; with one layer the two agree.
    /// </summary>
    public static Tensor LoadBalancingLoss(IReadOnlyList<Tensor> layerLogits, int k)
    {
        using var scope = NewDisposeScope();
        var sum = LoadBalancingLoss(layerLogits[0], k);
        for (var l = 1; l < layerLogits.Count; l++) sum = sum + LoadBalancingLoss(layerLogits[l], k);
        return (sum / layerLogits.Count).MoveToOuterDisposeScope();
    }

    /// <summary>ST-MoE's router z-loss: mean over tokens of logsumexp(logits)², keeping router logits small. (N, E) → scalar fp32.</summary>
    public static Tensor ZLoss(Tensor routerLogits)
    {
        using var scope = NewDisposeScope();
        return routerLogits.to(ScalarType.Float32).logsumexp(-1).square().mean().MoveToOuterDisposeScope();
    }
}
