namespace Substrate.Models;

/// <summary>
/// A model family as Hugging Face names it (<c>model_type</c>, <c>architectures</c>) and the math switches it sets.
/// The one table of families: the forward reads the switches (<see cref="ModelConfig.QkvBias"/>, …), never the name.
/// </summary>
/// <param name="ModelType">config.json's <c>model_type</c></param>
/// <param name="Architectures">the <c>architectures</c> entries this family's folders carry (the first is written)</param>
/// <param name="QkvBias">biases on q_proj, k_proj, v_proj (Qwen2)</param>
/// <param name="QkNorm">RMSNorm over each query and key head before rotary: <c>q_norm</c>, <c>k_norm</c> (Qwen3)</param>
/// <param name="HonoursSlidingWindow">config.json's <c>sliding_window</c> limits attention (Mistral); other families
/// carry the key for a window they only use behind <c>use_sliding_window</c></param>
public sealed record ModelFamily(string ModelType, string[] Architectures, bool QkvBias = false, bool QkNorm = false,
    bool HonoursSlidingWindow = false)
{
    public static readonly ModelFamily Llama = new("llama", ["LlamaForCausalLM"]);
    public static readonly ModelFamily Mistral = new("mistral", ["MistralForCausalLM"], HonoursSlidingWindow: true);
    public static readonly ModelFamily Qwen2 = new("qwen2", ["Qwen2ForCausalLM"], QkvBias: true);
    public static readonly ModelFamily Qwen3 = new("qwen3", ["Qwen3ForCausalLM"], QkNorm: true);

    public static IReadOnlyList<ModelFamily> All { get; } = [Llama, Mistral, Qwen2, Qwen3];

    /// <summary>The family of <paramref name="modelType"/>, or null for one not in the table.</summary>
    public static ModelFamily? Of(string modelType) => All.FirstOrDefault(f => f.ModelType == modelType);

    /// <summary>The supported model types, for messages: "llama, mistral, qwen2, qwen3".</summary>
    public static string Names => string.Join(", ", All.Select(f => f.ModelType));

    /// <summary>The family of <paramref name="modelType"/>; <see cref="ArgumentException"/> for one not in the table.</summary>
    public static ModelFamily Find(string modelType) => Of(modelType)
        ?? throw new ArgumentException($"config: model_type '{modelType}' is not supported (supported: {Names})");

    /// <summary><paramref name="config"/> as this family writes it: its model_type and architectures.</summary>
    public ModelConfig Apply(ModelConfig config) => config with { ModelType = ModelType, Architectures = [Architectures[0]] };
}
