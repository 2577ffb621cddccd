using Substrate.Models;
using Substrate.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// A <see cref="LlamaForCausalLM"/>'s weights as raw views for <see cref="CpuDecoder"/>: the projection and
/// embedding matrices point into the parameters' own native memory (fp32, bf16 or fp16, never copied), the
/// small norm vectors are copied to pinned fp32 arrays. The model must stay alive (and its parameters in place) while these
/// views are used: <see cref="CpuDecoder"/> holds the model for that reason.
/// </summary>
internal sealed partial class CpuDecoderWeights
{
    public sealed record Layer(
        float[] InputNorm,          // (H)
        WeightMatrix Q,             // (nH·hd, H)
        WeightMatrix K,             // (nKv·hd, H)
        WeightMatrix V,             // (nKv·hd, H)
        WeightMatrix O,             // (H, nH·hd)
        float[] PostAttentionNorm,  // (H)
        WeightMatrix Gate,          // (I, H)
        WeightMatrix Up,            // (I, H)
        WeightMatrix Down,          // (H, I)
        float[]? QBias = null,      // (nH·hd), with QkvBias
        float[]? KBias = null,      // (nKv·hd), with QkvBias
        float[]? VBias = null,      // (nKv·hd), with QkvBias
        float[]? QNorm = null,      // (hd), with QkNorm
        float[]? KNorm = null,      // (hd), with QkNorm
        float[]? PreFeedforwardNorm = null,   // (H), with PostNorms: the MLP's input norm (PostAttentionNorm norms the attention output)
        float[]? PostFeedforwardNorm = null,  // (H), with PostNorms
        CpuDecoderExperts? Experts = null);   // a sparse MLP's router and experts; Gate/Up/Down are then expert 0's

    public CpuDecoderWeights(LlamaForCausalLM model)
    {
        if (Unsupported(model) is { } reason) throw new NotSupportedException($"the CPU decoder cannot run this model: {reason}");
        using var scope = NewDisposeScope(); // the fp32 copies of the norm vectors
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var config = model.Config;
        var h = config.HiddenSize;
        WeightMatrix Matrix(string name, int rows, int cols) => View(parameters[name], name, rows, cols);
        float[] Vector(string name, int? length = null) // pinned: the decoder reads it through a pointer
        {
            var values = GC.AllocateUninitializedArray<float>(length ?? h, pinned: true);
            parameters[name].detach().to(ScalarType.Float32).data<float>().CopyTo(values);
            return values;
        }
        float[] Norm(string name, int? length = null) // Gemma's 1 + w, added in fp32 as RmsNorm does
        {
            var values = Vector(name, length);
            if (config.NormOffset) for (var j = 0; j < values.Length; j++) values[j] += 1f;
            return values;
        }

        (Embedding, Layers, FinalNorm, Head) = Build(config, Matrix, (name, length) => Vector(name, length), (name, length) => Norm(name, length));
    }

    public WeightMatrix Embedding { get; } // (V, H)
    public IReadOnlyList<Layer> Layers { get; }
    public float[] FinalNorm { get; }     // (H), 1 + w with NormOffset
    public WeightMatrix Head { get; }      // (V, H): the embedding table when tied

    /// <summary>Why <see cref="CpuDecoder"/> cannot run <paramref name="model"/>, or null when it can: it needs CPU
    /// parameters in fp32, bf16 or fp16, all in one dtype, and plain projections (no LoRA or other wrapped linears).</summary>
    public static string? Unsupported(LlamaForCausalLM model)
    {
        if (model.Options.Device.type != DeviceType.CPU) return $"the model is on {model.Options.Device}, not the CPU";
        foreach (var (name, module) in model.named_modules())
            if ((name.EndsWith("_proj", StringComparison.Ordinal) || name == "lm_head" || IsExpertLinear(name)) && module is not PlainLinear)
                return $"{name} is a {module.GetType().Name}, not a plain linear layer (LoRA adapters run on the TorchSharp path)";
        var dtypes = model.parameters().Select(p => p.dtype).Distinct().ToArray();
        if (dtypes.Length != 1 || dtypes[0] is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            return $"parameters must all be Float32, BFloat16 or Float16 (found {string.Join(", ", dtypes)})";
        return null;
    }

    /// <summary>A mixture of experts' linears: the router (<c>.gate</c>), Mixtral's w1/w2/w3, Qwen2-MoE's shared_expert_gate.</summary>
    private static bool IsExpertLinear(string name) =>
        name.EndsWith(".gate", StringComparison.Ordinal) || name.EndsWith("_gate", StringComparison.Ordinal)
        || (name.Contains(".experts.", StringComparison.Ordinal) && name[^3..] is ".w1" or ".w2" or ".w3");

    /// <summary>The decoder's weights by their HF names: <paramref name="matrix"/>(name, rows, cols) views a matrix,
    /// <paramref name="vector"/>(name, length or null for H) copies a vector, <paramref name="norm"/> copies a norm's
    /// weight as the decoder multiplies by it (Gemma's 1 + w where the source stores w).</summary>
    private static (WeightMatrix Embedding, Layer[] Layers, float[] FinalNorm, WeightMatrix Head) Build(ModelConfig config,
        Func<string, int, int, WeightMatrix> matrix, Func<string, int?, float[]> vector, Func<string, int?, float[]> norm)
    {
        var (h, q, kv, i) = (config.HiddenSize, config.NumAttentionHeads * config.HeadDim, config.NumKeyValueHeads * config.HeadDim, config.IntermediateSize);
        WeightMatrix Matrix(string name, int rows, int cols) => matrix(name, rows, cols);
        float[] Vector(string name, int? length = null) => vector(name, length);
        float[] Norm(string name, int? length = null) => norm(name, length);
        var embedding = Matrix("model.embed_tokens.weight", config.VocabSize, h);
        var layers = Enumerable.Range(0, config.NumHiddenLayers).Select(n =>
        {
            var path = $"model.layers.{n}";
            var (wq, wk, wv) = config.FusedProjections // qkv_proj's rows: q, then k, then v
                ? Split(Matrix($"{path}.self_attn.qkv_proj.weight", q + 2 * kv, h), q, kv)
                : (Matrix($"{path}.self_attn.q_proj.weight", q, h), Matrix($"{path}.self_attn.k_proj.weight", kv, h),
                    Matrix($"{path}.self_attn.v_proj.weight", kv, h));
            var experts = config.SparseLayer(n) ? CpuDecoderExperts.Build(config, $"{path}.{config.Family!.Experts!.Block}", Matrix, Vector) : null;
            var (gate, up, down) = experts is not null ? (experts.Gate[0], experts.Up[0], experts.Down[0])
                : config.FusedProjections // gate_up_proj's rows: gate, then up
                ? (Rows(Matrix($"{path}.mlp.gate_up_proj.weight", 2 * i, h), 0, i), Rows(Matrix($"{path}.mlp.gate_up_proj.weight", 2 * i, h), i, i),
                    Matrix($"{path}.mlp.down_proj.weight", h, i))
                : (Matrix($"{path}.mlp.gate_proj.weight", i, h), Matrix($"{path}.mlp.up_proj.weight", i, h), Matrix($"{path}.mlp.down_proj.weight", h, i));
            return new Layer(
                Norm($"{path}.input_layernorm.weight"),
                wq, wk, wv,
                Matrix($"{path}.self_attn.o_proj.weight", h, q),
                Norm($"{path}.post_attention_layernorm.weight"),
                gate, up, down,
                config.QkvBias ? Vector($"{path}.self_attn.q_proj.bias", q) : null,
                config.QkvBias ? Vector($"{path}.self_attn.k_proj.bias", kv) : null,
                config.QkvBias ? Vector($"{path}.self_attn.v_proj.bias", kv) : null,
                config.QkNorm ? Norm($"{path}.self_attn.q_norm.weight", config.HeadDim) : null,
                config.QkNorm ? Norm($"{path}.self_attn.k_norm.weight", config.HeadDim) : null,
                config.PostNorms ? Norm($"{path}.pre_feedforward_layernorm.weight") : null,
                config.PostNorms ? Norm($"{path}.post_feedforward_layernorm.weight") : null,
                experts);
        }).ToArray();
        var head = config.TieWordEmbeddings ? embedding : Matrix("lm_head.weight", config.VocabSize, h);
        return (embedding, layers, Norm("model.norm.weight"), head);
    }

    private static (WeightMatrix Q, WeightMatrix K, WeightMatrix V) Split(WeightMatrix qkv, int q, int kv) =>
        (Rows(qkv, 0, q), Rows(qkv, q, kv), Rows(qkv, q + kv, kv));

    /// <summary>Rows [start, start + count) of <paramref name="w"/>, a view into the same memory.</summary>
    private static unsafe WeightMatrix Rows(WeightMatrix w, int start, int count) =>
        new((byte*)w.Data + start * w.RowBytes, count, w.Cols, w.Format);

    private static unsafe WeightMatrix View(Tensor t, string name, int rows, int cols)
    {
        if (t.dim() != 2 || t.shape[0] != rows || t.shape[1] != cols)
            throw new InvalidDataException($"{name} has shape [{string.Join(", ", t.shape)}]; expected [{rows}, {cols}]");
        if (!t.is_contiguous()) throw new NotSupportedException($"{name} is not contiguous");
        var format = t.dtype switch
        {
            ScalarType.Float32 => WeightFormat.Float32,
            ScalarType.BFloat16 => WeightFormat.BFloat16,
            _ => WeightFormat.Float16,
        };
        fixed (byte* data = t.bytes) return new WeightMatrix(data, rows, cols, format); // native memory: valid beyond `fixed`
    }
}
