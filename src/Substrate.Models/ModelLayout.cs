namespace Substrate.Models;

/// <summary>
/// The parameters a config describes, by Hugging Face name and shape, without building the model: what a folder's
/// weights must hold, what the model will allocate, what <c>info</c> checks a folder against. A test keeps it equal to
/// <see cref="LlamaForCausalLM"/>'s own state dict.
/// </summary>
public static class ModelLayout
{
    /// <summary>(name, shape) of every parameter, in state-dict order.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Parameters(ModelConfig c)
    {
        long h = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        yield return ("model.embed_tokens.weight", [c.VocabSize, h]);
        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            var p = $"model.layers.{layer}.";
            yield return (p + "input_layernorm.weight", [h]);
            if (c.FusedProjections) yield return (p + "self_attn.qkv_proj.weight", [q + 2 * kv, h]);
            else
            {
                yield return (p + "self_attn.q_proj.weight", [q, h]);
                if (c.QkvBias) yield return (p + "self_attn.q_proj.bias", [q]);
                yield return (p + "self_attn.k_proj.weight", [kv, h]);
                if (c.QkvBias) yield return (p + "self_attn.k_proj.bias", [kv]);
                yield return (p + "self_attn.v_proj.weight", [kv, h]);
                if (c.QkvBias) yield return (p + "self_attn.v_proj.bias", [kv]);
            }
            yield return (p + "self_attn.o_proj.weight", [h, q]);
            if (c.QkNorm) yield return (p + "self_attn.q_norm.weight", [c.HeadDim]);
            if (c.QkNorm) yield return (p + "self_attn.k_norm.weight", [c.HeadDim]);
            yield return (p + "post_attention_layernorm.weight", [h]);
            if (c.SparseLayer(layer)) foreach (var sparse in SparseMlp(c, p + c.Family!.Experts!.Block + ".")) yield return sparse;
            else if (c.FusedProjections) yield return (p + "mlp.gate_up_proj.weight", [2 * i, h]);
            else
            {
                yield return (p + "mlp.gate_proj.weight", [i, h]);
                yield return (p + "mlp.up_proj.weight", [i, h]);
            }
            if (!c.SparseLayer(layer)) yield return (p + "mlp.down_proj.weight", [h, i]);
            if (c.PostNorms) yield return (p + "pre_feedforward_layernorm.weight", [h]);
            if (c.PostNorms) yield return (p + "post_feedforward_layernorm.weight", [h]);
        }
        yield return ("model.norm.weight", [h]);
        if (!c.TieWordEmbeddings) yield return ("lm_head.weight", [c.VocabSize, h]);
    }

    /// <summary>A sparse MLP's parameters under <paramref name="prefix"/>: the router, each expert, the shared expert.</summary>
    private static IEnumerable<(string Name, long[] Shape)> SparseMlp(ModelConfig c, string prefix)
    {
        var names = c.Family!.Experts!;
        long h = c.HiddenSize, w = c.ExpertIntermediateSize, s = c.SharedExpertSize;
        yield return (prefix + "gate.weight", [c.ExpertCount, h]);
        for (int e = 0; e < c.ExpertCount; e++)
        {
            yield return ($"{prefix}experts.{e}.{names.Gate}.weight", [w, h]);
            yield return ($"{prefix}experts.{e}.{names.Up}.weight", [w, h]);
            yield return ($"{prefix}experts.{e}.{names.Down}.weight", [h, w]);
        }
        if (s == 0) yield break;
        yield return (prefix + "shared_expert.gate_proj.weight", [s, h]);
        yield return (prefix + "shared_expert.up_proj.weight", [s, h]);
        yield return (prefix + "shared_expert.down_proj.weight", [h, s]);
        yield return (prefix + "shared_expert_gate.weight", [1, h]);
    }

    /// <summary>The sparse MLP's parameters of one layer: router, E experts, shared expert and its gate.</summary>
    public static long SparseMlpParameters(ModelConfig c) => checked(
        (long)c.ExpertCount * c.HiddenSize + 3L * c.ExpertCount * c.ExpertIntermediateSize * c.HiddenSize
        + (c.SharedExpertSize > 0 ? 3L * c.SharedExpertSize * c.HiddenSize + c.HiddenSize : 0));

    /// <summary>The number of parameters, computed per layer (not by walking every layer), so a config with absurd sizes
    /// answers at once; <see cref="OverflowException"/> when it does not fit a long.</summary>
    public static long ParameterCount(ModelConfig c)
    {
        checked
        {
            long h = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
            long perLayer = q * h + 2 * kv * h + h * q + 3 * i * h + 2 * h + (c.QkvBias ? q + 2 * kv : 0) + (c.QkNorm ? 2L * c.HeadDim : 0)
                + (c.PostNorms ? 2 * h : 0);
            long embeddings = (long)c.VocabSize * h * (c.TieWordEmbeddings ? 1 : 2);
            long sparseLayers = SparseLayerCount(c);
            return embeddings + c.NumHiddenLayers * perLayer + h + sparseLayers * (SparseMlpParameters(c) - 3 * i * h);
        }
    }

    /// <summary>Layers with a sparse MLP, counted without walking every layer where all are sparse or none is.</summary>
    public static long SparseLayerCount(ModelConfig c) =>
        c.ExpertCount == 0 ? 0 : c.MlpOnlyLayers is null && (c.DecoderSparseStep ?? 1) == 1 ? c.NumHiddenLayers
            : Enumerable.Range(0, c.NumHiddenLayers).Count(c.SparseLayer);
}
