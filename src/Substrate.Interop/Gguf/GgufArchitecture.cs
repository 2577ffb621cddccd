using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// How llama.cpp names each model family: its <c>general.architecture</c> (the prefix of the hyperparameter keys),
/// whether its q/k rows take the GGML rotary permutation (llama-arch files only; qwen2/qwen3/gemma3 rotate halves, as
/// Hugging Face does), its own tensor names (<paramref name="TensorNames"/>, before <see cref="LlamaGgufNames"/>' shared table)
/// and whether its norm weights are stored with the 1 of Gemma's 1 + w added (<paramref name="NormShift"/>, as
/// llama.cpp's converter writes gemma files). Mistral is a llama-arch file whose sliding window rides in
/// <c>llama.attention.sliding_window</c>. The one table between <see cref="ModelFamily"/> and GGUF.
/// </summary>
public sealed record GgufArchitecture(string Name, ModelFamily Family, bool PermuteQk, IReadOnlyList<(string Hf, string Gguf)>? TensorNames = null,
    bool NormShift = false, bool NeedsOutput = false)
{
    public static IReadOnlyList<GgufArchitecture> All { get; } =
    [
        new("llama", ModelFamily.Llama, PermuteQk: true),
        new("llama", ModelFamily.Mistral, PermuteQk: true),
        new("qwen2", ModelFamily.Qwen2, PermuteQk: false),
        new("qwen3", ModelFamily.Qwen3, PermuteQk: false),
        new("gemma3", ModelFamily.Gemma3, PermuteQk: false, LlamaGgufNames.PostNormTable, NormShift: true),
        new("phi3", ModelFamily.Phi3, PermuteQk: false, LlamaGgufNames.FusedTable),
        new("llama", ModelFamily.Mixtral, PermuteQk: true, LlamaGgufNames.MixtralTable),
        new("qwen2moe", ModelFamily.Qwen2Moe, PermuteQk: false, LlamaGgufNames.QwenMoeTable, NeedsOutput: true), // no tied fallback in llama.cpp
        new("qwen3moe", ModelFamily.Qwen3Moe, PermuteQk: false, LlamaGgufNames.QwenMoeTable),
    ];

    /// <summary>GGUF name of a HF parameter under this architecture; null for one without a counterpart.</summary>
    public string? ToGguf(string hf) => LlamaGgufNames.ToGguf(hf, TensorNames);

    /// <summary>HF name of a GGUF tensor under this architecture; null for one this table does not know.</summary>
    public string? ToHf(string gguf) => LlamaGgufNames.ToHf(gguf, TensorNames);

    /// <summary>The GGUF architecture a config exports as.</summary>
    public static GgufArchitecture For(ModelConfig config) => All.First(a => a.Family == config.Family);

    /// <summary>The family a file's <c>general.architecture</c> names; a llama file with experts is Mixtral, one with a sliding
    /// window Mistral.</summary>
    public static GgufArchitecture? FromFile(string name, bool slidingWindow, bool experts = false) =>
        All.FirstOrDefault(a => a.Name == name && (name != "llama"
            || (experts ? a.Family.Experts is not null : a.Family.Experts is null && a.Family.HonoursSlidingWindow == slidingWindow)));

    /// <summary>The hyperparameter key <paramref name="key"/> under this architecture's prefix (<c>qwen2.block_count</c>).</summary>
    public string Key(string key) => $"{Name}.{key}";

    /// <summary>
    /// <paramref name="config"/> with what llama.cpp fixes for this architecture instead of reading it from the file. gemma3
    /// (llama.cpp's hparams): every 6th layer full attention, the sliding layers' rotary base 10000, the attention scale
    /// 1/√head_dim (1/√(hidden/heads) for its 62-layer 27B). Other architectures read all they use.
    /// </summary>
    public ModelConfig Implied(ModelConfig config) => !Family.LayerTypes ? config : config with
    {
        SlidingWindowPattern = 6, LayerTypeNames = null, RopeLocalBaseFreq = 10000,
        QueryPreAttnScalar = config.NumHiddenLayers == 62 ? config.HiddenSize / config.NumAttentionHeads : config.HeadDim,
    };

    /// <summary>Throws <see cref="NotSupportedException"/> naming the config.json key whose math llama.cpp would not run as
    /// written (<see cref="Implied"/>).</summary>
    public void CheckImplied(ModelConfig config)
    {
        var implied = Implied(config);
        var key = Enumerable.Range(0, config.NumHiddenLayers).Any(l => config.SlidingLayer(l) != implied.SlidingLayer(l))
                ? "layer_types / sliding_window_pattern (llama.cpp makes every 6th layer full attention)"
            : config.LocalRopeTheta != implied.LocalRopeTheta ? $"rope_local_base_freq = {config.LocalRopeTheta} (llama.cpp rotates sliding layers with 10000)"
            : config.AttentionScale != implied.AttentionScale
                ? $"query_pre_attn_scalar = {config.QueryPreAttnScalar} (llama.cpp takes {implied.QueryPreAttnScalar})"
            : ExpertsKey(config);
        if (key is not null) throw new NotSupportedException($"{Name} GGUF: {key}");
    }

    /// <summary>The mixture-of-experts setting llama.cpp would not run as written, or null: it routes every layer sparsely,
    /// renormalises the top-k for llama (Mixtral) and qwen3moe but not for qwen2moe, and qwen2moe always has a shared expert.</summary>
    private string? ExpertsKey(ModelConfig config)
    {
        if (config.ExpertCount == 0) return null;
        if (ModelLayout.SparseLayerCount(config) != config.NumHiddenLayers) return "mlp_only_layers / decoder_sparse_step (llama.cpp makes every layer sparse)";
        if (config.RenormalizeTopK != (Name != "qwen2moe")) return $"norm_topk_prob = {config.RenormalizeTopK} (llama.cpp's {Name} takes {Name != "qwen2moe"})";
        if (Name == "qwen2moe" && config.SharedExpertSize == 0) return "shared_expert_intermediate_size = 0 (llama.cpp's qwen2moe needs a shared expert)";
        return null;
    }

    /// <summary>HF values → the file's, where this architecture stores them otherwise: q/k rows in GGML's layout
    /// (<see cref="LlamaGgufNames.PermuteForGguf"/>), norm weights + 1 (<see cref="NormShift"/>); other tensors and
    /// architectures pass through. <paramref name="inverse"/> undoes it: w + 1 − 1 gives back the fp32 value of 1 + w that the
    /// model computes with (exact for 1 + w ≥ 0.5), so an imported file computes as the exported model and exports again bit for bit.</summary>
    public float[] Values(string ggufName, float[] values, ModelConfig config, int cols, bool inverse = false)
    {
        if (NormShift && ggufName.EndsWith("norm.weight", StringComparison.Ordinal))
            return values.Select(v => inverse ? v - 1f : v + 1f).ToArray();
        if (!PermuteQk) return values;
        int? heads = ggufName.EndsWith("attn_q.weight", StringComparison.Ordinal) ? config.NumAttentionHeads
            : ggufName.EndsWith("attn_k.weight", StringComparison.Ordinal) ? config.NumKeyValueHeads : null;
        if (heads is not { } h) return values;
        return inverse ? LlamaGgufNames.UnpermuteFromGguf(values, h, cols) : LlamaGgufNames.PermuteForGguf(values, h, cols);
    }
}
