namespace Substrate.Interop.Gguf;

/// <summary>
/// The one table between Hugging Face Llama-family parameter names (Llama, Mistral, Qwen2's q/k/v biases, Qwen3's q/k
/// norms) and llama.cpp's GGUF tensor names, an architecture's overrides of it (Gemma's sandwich norms,
/// <see cref="PostNormTable"/>; Phi-3's fused projections, <see cref="FusedTable"/>), and the row permutation llama.cpp expects of llama-arch q/k projections.
/// </summary>
public static class LlamaGgufNames
{
    private static readonly (string Hf, string Gguf)[] LayerTable =
    [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.q_proj.bias", "attn_q.bias"),
        ("self_attn.k_proj.bias", "attn_k.bias"),
        ("self_attn.v_proj.bias", "attn_v.bias"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("self_attn.q_norm.weight", "attn_q_norm.weight"),
        ("self_attn.k_norm.weight", "attn_k_norm.weight"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ];

    /// <summary>Gemma 2/3's four norms a layer: post_attention_layernorm norms the attention's output, and the MLP's input
    /// norm is pre_feedforward_layernorm (llama.cpp's ffn_norm).</summary>
    public static readonly (string Hf, string Gguf)[] PostNormTable =
    [
        ("post_attention_layernorm.weight", "post_attention_norm.weight"),
        ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
        ("post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
    ];

    /// <summary>Phi-3's fused projections: qkv_proj is llama.cpp's attn_qkv, gate_up_proj its ffn_up (gate rows first).</summary>
    public static readonly (string Hf, string Gguf)[] FusedTable =
    [
        ("self_attn.qkv_proj.weight", "attn_qkv.weight"),
        ("mlp.gate_up_proj.weight", "ffn_up.weight"),
    ];

    /// <summary>Mixtral's sparse MLP: the router is ffn_gate_inp; the experts' w1/w3/w2 are stacked, (E, …), into one tensor
    /// each (<see cref="ExpertWildcard"/> stands for the expert index).</summary>
    public static readonly (string Hf, string Gguf)[] MixtralTable =
    [
        ("block_sparse_moe.gate.weight", "ffn_gate_inp.weight"),
        ("block_sparse_moe.experts.*.w1.weight", "ffn_gate_exps.weight"),
        ("block_sparse_moe.experts.*.w3.weight", "ffn_up_exps.weight"),
        ("block_sparse_moe.experts.*.w2.weight", "ffn_down_exps.weight"),
    ];

    /// <summary>Qwen2-MoE / Qwen3-MoE's sparse MLP: router, stacked experts and Qwen2-MoE's shared expert with its gate
    /// (ffn_gate_inp_shexp, a (H) vector where HF has (1, H)).</summary>
    public static readonly (string Hf, string Gguf)[] QwenMoeTable =
    [
        ("mlp.gate.weight", "ffn_gate_inp.weight"),
        ("mlp.experts.*.gate_proj.weight", "ffn_gate_exps.weight"),
        ("mlp.experts.*.up_proj.weight", "ffn_up_exps.weight"),
        ("mlp.experts.*.down_proj.weight", "ffn_down_exps.weight"),
        ("mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"),
        ("mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"),
        ("mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"),
        ("mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"),
    ];

    /// <summary>The expert index in a stacked tensor's HF name: <c>model.layers.0.mlp.experts.*.up_proj.weight</c>.</summary>
    public const string ExpertWildcard = "*";

    /// <summary>A HF expert parameter's name with its index replaced by <see cref="ExpertWildcard"/>, and the index; the name
    /// as it is and null for other parameters.</summary>
    public static (string Name, int? Expert) StackedName(string hf)
    {
        var at = hf.IndexOf(".experts.", StringComparison.Ordinal);
        if (at < 0) return (hf, null);
        var start = at + ".experts.".Length;
        var end = hf.IndexOf('.', start);
        if (end < 0 || !int.TryParse(hf.AsSpan(start, end - start), out var expert)) return (hf, null);
        return (hf[..start] + ExpertWildcard + hf[end..], expert);
    }

    private static readonly (string Hf, string Gguf)[] GlobalTable =
    [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];

    /// <summary>GGUF name of a HF parameter; null for names with no GGUF counterpart (e.g. rotary inv_freq).
    /// <paramref name="overrides"/>, an architecture's own layer names, come before the shared table.</summary>
    public static string? ToGguf(string hf, IReadOnlyList<(string Hf, string Gguf)>? overrides = null)
    {
        foreach (var (h, g) in GlobalTable) if (h == hf) return g;
        const string prefix = "model.layers.";
        if (!hf.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int dot = hf.IndexOf('.', prefix.Length);
        if (dot < 0 || !int.TryParse(hf.AsSpan(prefix.Length, dot - prefix.Length), out int layer)) return null;
        var rest = StackedName(hf[(dot + 1)..]).Name; // an expert's weight goes to its stacked tensor
        foreach (var (h, g) in (overrides ?? []).Concat(LayerTable)) if (h == rest) return $"blk.{layer}.{g}";
        return null;
    }

    /// <summary>HF name of a GGUF tensor; null for names this table does not know (e.g. rope_freqs.weight). A stacked expert
    /// tensor's name holds <see cref="ExpertWildcard"/> for the index.</summary>
    public static string? ToHf(string gguf, IReadOnlyList<(string Hf, string Gguf)>? overrides = null)
    {
        foreach (var (h, g) in GlobalTable) if (g == gguf) return h;
        const string prefix = "blk.";
        if (!gguf.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int dot = gguf.IndexOf('.', prefix.Length);
        if (dot < 0 || !int.TryParse(gguf.AsSpan(prefix.Length, dot - prefix.Length), out int layer)) return null;
        var rest = gguf[(dot + 1)..];
        foreach (var (h, g) in (overrides ?? []).Concat(LayerTable)) if (g == rest) return $"model.layers.{layer}.{h}";
        return null;
    }

    /// <summary>
    /// HF q/k rows (per head: first half of the rotary pairs, then second half — rotate_half) → GGML's
    /// interleaved pairs: view the (out, in) weight as (heads, 2, hd/2, in), swap axes 1 and 2, flatten back.
    /// Row h·hd + i·hd/2 + j moves to h·hd + 2j + i. Use the kv-head count for k.
    /// </summary>
    public static float[] PermuteForGguf(ReadOnlySpan<float> weight, int heads, int cols) => Permute(weight, heads, cols, inverse: false);

    /// <summary>The inverse of <see cref="PermuteForGguf"/>.</summary>
    public static float[] UnpermuteFromGguf(ReadOnlySpan<float> weight, int heads, int cols) => Permute(weight, heads, cols, inverse: true);

    private static float[] Permute(ReadOnlySpan<float> weight, int heads, int cols, bool inverse)
    {
        int rows = weight.Length / cols;
        if (weight.Length % cols != 0 || rows % heads != 0 || rows / heads % 2 != 0)
            throw new ArgumentException($"a {rows}×{cols} q/k weight does not split into {heads} heads of even width");
        int hd = rows / heads, half = hd / 2;
        var result = new float[weight.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < half; j++)
                {
                    int hfRow = h * hd + i * half + j;     // (heads, 2, hd/2) layout
                    int ggmlRow = h * hd + 2 * j + i;      // (heads, hd/2, 2) layout
                    var (from, to) = inverse ? (ggmlRow, hfRow) : (hfRow, ggmlRow);
                    weight.Slice(from * cols, cols).CopyTo(result.AsSpan(to * cols, cols));
                }
        return result;
    }
}
