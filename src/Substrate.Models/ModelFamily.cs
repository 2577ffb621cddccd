namespace Substrate.Models;

/// <summary>
/// A model family as Hugging Face names it (<c>model_type</c>, <c>architectures</c>) and the math switches it sets.
/// The one table of families: the forward reads the switches (<see cref="ModelConfig.QkvBias"/>, …), never the name.
/// </summary>
/// <param name="ModelType">config.json's <c>model_type</c></param>
/// <param name="Architectures">the <c>architectures</c> entries this family's folders carry (the first is written)</param>
/// <param name="QkvBias">biases on q_proj, k_proj, v_proj (Qwen2)</param>
/// <param name="QkNorm">RMSNorm over each query and key head before rotary: <c>q_norm</c>, <c>k_norm</c> (Qwen3, Gemma 3)</param>
/// <param name="HonoursSlidingWindow">config.json's <c>sliding_window</c> limits attention (Mistral, Gemma 3's sliding
/// layers); other families carry the key for a window they only use behind <c>use_sliding_window</c></param>
/// <param name="Activation">the MLP's gate activation, config.json's <c>hidden_act</c> or <c>hidden_activation</c>:
/// <c>silu</c> (SwiGLU) or <c>gelu_pytorch_tanh</c> (GeGLU, Gemma)</param>
/// <param name="NormOffset">every RMSNorm scales by 1 + weight, weights initialised to 0 (Gemma)</param>
/// <param name="PostNorms">sandwich norms: the attention and MLP outputs are normed before they join the residual
/// (<c>post_attention_layernorm</c>, <c>post_feedforward_layernorm</c>), the MLP input by <c>pre_feedforward_layernorm</c> (Gemma 2/3)</param>
/// <param name="ScaledEmbeddings">embeddings are multiplied by √hidden_size, in the embedding dtype (Gemma)</param>
/// <param name="LayerTypes">sliding and full-attention layers interleave (<c>layer_types</c>, or every
/// <c>sliding_window_pattern</c>-th layer full); sliding layers rotate with <c>rope_local_base_freq</c> and no
/// rope_scaling; the attention scale is <c>query_pre_attn_scalar</c>^−½ (Gemma 3)</param>
/// <param name="TiedByDefault">embeddings are tied when config.json has no <c>tie_word_embeddings</c> (Gemma 3)</param>
/// <param name="FusedProjections">q, k, v in one <c>qkv_proj</c> ((nH + 2·nKv)·hd, H) and gate, up in one <c>gate_up_proj</c>
/// (2I, H), gate rows first, as the family ships them (Phi-3)</param>
/// <param name="Experts">the MLP is a mixture of experts, routed top-k, with these names (Mixtral, Qwen MoE); null: dense</param>
public sealed record ModelFamily(string ModelType, string[] Architectures, bool QkvBias = false, bool QkNorm = false,
    bool HonoursSlidingWindow = false, string Activation = "silu", bool NormOffset = false, bool PostNorms = false,
    bool ScaledEmbeddings = false, bool LayerTypes = false, bool TiedByDefault = false, bool FusedProjections = false,
    ExpertNames? Experts = null)
{
    public static readonly ModelFamily Llama = new("llama", ["LlamaForCausalLM"]);
    public static readonly ModelFamily Mistral = new("mistral", ["MistralForCausalLM"], HonoursSlidingWindow: true);
    public static readonly ModelFamily Qwen2 = new("qwen2", ["Qwen2ForCausalLM"], QkvBias: true);
    public static readonly ModelFamily Qwen3 = new("qwen3", ["Qwen3ForCausalLM"], QkNorm: true);
    public static readonly ModelFamily Gemma3 = new("gemma3_text", ["Gemma3ForCausalLM"], QkNorm: true, HonoursSlidingWindow: true,
        Activation: "gelu_pytorch_tanh", NormOffset: true, PostNorms: true, ScaledEmbeddings: true, LayerTypes: true, TiedByDefault: true);

    public static readonly ModelFamily Phi3 = new("phi3", ["Phi3ForCausalLM"], HonoursSlidingWindow: true, FusedProjections: true);

    public static readonly ModelFamily Mixtral = new("mixtral", ["MixtralForCausalLM"], HonoursSlidingWindow: true, Experts: ExpertNames.Mixtral);
    public static readonly ModelFamily Qwen2Moe = new("qwen2_moe", ["Qwen2MoeForCausalLM"], QkvBias: true, Experts: ExpertNames.Qwen2Moe);
    public static readonly ModelFamily Qwen3Moe = new("qwen3_moe", ["Qwen3MoeForCausalLM"], QkNorm: true, Experts: ExpertNames.Qwen3Moe);

    public static IReadOnlyList<ModelFamily> All { get; } = [Llama, Mistral, Qwen2, Qwen3, Gemma3, Phi3, Mixtral, Qwen2Moe, Qwen3Moe];

    /// <summary>The family of <paramref name="modelType"/>, or null for one not in the table.</summary>
    public static ModelFamily? Of(string modelType) => All.FirstOrDefault(f => f.ModelType == modelType);

    /// <summary>The supported model types, for messages: "llama, mistral, qwen2, qwen3, …".</summary>
    public static string Names => string.Join(", ", All.Select(f => f.ModelType));

    /// <summary>The family of <paramref name="modelType"/>; <see cref="ArgumentException"/> for one not in the table.</summary>
    public static ModelFamily Find(string modelType) => Of(modelType)
        ?? throw new ArgumentException($"config: model_type '{modelType}' is not supported (supported: {Names})");

    /// <summary><paramref name="config"/> as this family writes it: its model_type and architectures (and its activation under
    /// Gemma's key where it is not SwiGLU's).</summary>
    public ModelConfig Apply(ModelConfig config) => config with
    {
        ModelType = ModelType, Architectures = [Architectures[0]],
        HiddenActivation = Activation == "silu" ? config.HiddenActivation : Activation,
    };
}

/// <summary>
/// How a family names its sparse MLP and what its router does by default: the layer's field (<c>block_sparse_moe</c> or
/// <c>mlp</c>), the router (<c>gate</c>, weight (E, H)), each expert's gate/up/down projections (Mixtral's w1/w3/w2).
/// </summary>
/// <param name="Block">the decoder layer's field holding the sparse MLP</param>
/// <param name="CountKey">config.json's key for the expert count, for messages</param>
/// <param name="RenormalizesByDefault">top-k weights renormalised when norm_topk_prob is absent (Mixtral: always)</param>
/// <param name="SharedExpert">an always-on <c>shared_expert</c> gated by sigmoid(<c>shared_expert_gate</c>) (Qwen2-MoE)</param>
public sealed record ExpertNames(string Block, string Gate, string Up, string Down, string CountKey, bool RenormalizesByDefault,
    bool SharedExpert = false)
{
    public static readonly ExpertNames Mixtral = new("block_sparse_moe", "w1", "w3", "w2", "num_local_experts", RenormalizesByDefault: true);
    public static readonly ExpertNames Qwen2Moe = new("mlp", "gate_proj", "up_proj", "down_proj", "num_experts", false, SharedExpert: true);
    public static readonly ExpertNames Qwen3Moe = new("mlp", "gate_proj", "up_proj", "down_proj", "num_experts", false);
}
