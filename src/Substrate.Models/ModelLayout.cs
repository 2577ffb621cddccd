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
            if (c.FusedProjections) yield return (p + "mlp.gate_up_proj.weight", [2 * i, h]);
            else
            {
                yield return (p + "mlp.gate_proj.weight", [i, h]);
                yield return (p + "mlp.up_proj.weight", [i, h]);
            }
            yield return (p + "mlp.down_proj.weight", [h, i]);
            if (c.PostNorms) yield return (p + "pre_feedforward_layernorm.weight", [h]);
            if (c.PostNorms) yield return (p + "post_feedforward_layernorm.weight", [h]);
        }
        yield return ("model.norm.weight", [h]);
        if (!c.TieWordEmbeddings) yield return ("lm_head.weight", [c.VocabSize, h]);
    }

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
            return embeddings + c.NumHiddenLayers * perLayer + h;
        }
    }
}
