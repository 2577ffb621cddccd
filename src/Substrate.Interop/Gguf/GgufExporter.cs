using static TorchSharp.torch;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Exports a Llama model folder (config.json + safetensors + tokenizer.json) to a GGUF v3 file llama.cpp
/// loads: <c>llama.*</c> hyperparameters, the tokenizer as <c>tokenizer.ggml.*</c>, tensors under llama.cpp's
/// names with q/k rows permuted for its rotary layout. 2-D weights take the file type's encoding (rows that
/// are not whole blocks fall back to F16, then F32); norms and other 1-D tensors stay F32. With tied
/// embeddings there is no <c>output.weight</c> (llama.cpp then uses <c>token_embd</c>). Written atomically.
/// </summary>
public static class GgufExporter
{
    /// <param name="modelDir">a HF folder: config.json, model.safetensors (or shards), tokenizer.json (+ tokenizer_config.json)</param>
    /// <param name="outPath">the .gguf file to write (replaced atomically)</param>
    /// <param name="fileType">the encoding of the 2-D weights</param>
    /// <param name="name">general.name (default: the folder's name)</param>
    /// <param name="progress">called after each tensor with (tensors done, tensors in all, tensor name)</param>
    public static void Export(string modelDir, string outPath, GgufFileType fileType = GgufFileType.F16, string? name = null,
        Action<int, int, string>? progress = null)
    {
        var config = ModelFolder.ReadConfig(modelDir);
        using var model = ModelFolder.Load(modelDir);
        var writer = new GgufWriter();
        writer.Add("general.architecture", "llama");
        writer.Add("general.name", name ?? new DirectoryInfo(Path.GetFullPath(modelDir)).Name);
        writer.Add("general.file_type", (uint)fileType);
        if (fileType is GgufFileType.Q8_0 or GgufFileType.Q4_0) writer.Add("general.quantization_version", 2u);
        writer.Add("llama.vocab_size", (uint)config.VocabSize);
        writer.Add("llama.context_length", (uint)config.MaxPositionEmbeddings);
        writer.Add("llama.embedding_length", (uint)config.HiddenSize);
        writer.Add("llama.block_count", (uint)config.NumHiddenLayers);
        writer.Add("llama.feed_forward_length", (uint)config.IntermediateSize);
        writer.Add("llama.rope.dimension_count", (uint)config.HeadDim);
        writer.Add("llama.attention.head_count", (uint)config.NumAttentionHeads);
        writer.Add("llama.attention.head_count_kv", (uint)config.NumKeyValueHeads);
        if (config.HeadDim * config.NumAttentionHeads != config.HiddenSize)
        {
            writer.Add("llama.attention.key_length", (uint)config.HeadDim);
            writer.Add("llama.attention.value_length", (uint)config.HeadDim);
        }
        writer.Add("llama.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        writer.Add("llama.rope.freq_base", (float)config.RopeTheta);
        if (!GgufTokenizerExporter.AddTo(writer, modelDir, config.VocabSize, config))
            writer.Add("tokenizer.ggml.model", "none"); // no tokenizer.json: llama.cpp loads it without a vocabulary (ids only)

        var weightType = GgmlTypes.WeightType(fileType);
        var state = model.state_dict();
        var names = TensorOrder(config).Where(state.ContainsKey).ToList(); // no lm_head when tied
        foreach (var hfName in names)
        {
            var tensor = state[hfName];
            var ggufName = LlamaGgufNames.ToGguf(hfName)!;
            var shape = tensor.shape;
            float[] values;
            using (var f32 = tensor.detach().to(ScalarType.Float32).cpu().contiguous()) values = f32.data<float>().ToArray();
            if (hfName.EndsWith("q_proj.weight", StringComparison.Ordinal))
                values = LlamaGgufNames.PermuteForGguf(values, config.NumAttentionHeads, (int)shape[1]);
            else if (hfName.EndsWith("k_proj.weight", StringComparison.Ordinal))
                values = LlamaGgufNames.PermuteForGguf(values, config.NumKeyValueHeads, (int)shape[1]);
            writer.AddTensor(ggufName, shape, values, TypeFor(shape, weightType));
            progress?.Invoke(names.IndexOf(hfName) + 1, names.Count, ggufName);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        writer.Write(outPath);
    }

    /// <summary>HF parameter names in llama.cpp's order: embeddings, then each block, then the final norm and head.</summary>
    public static IEnumerable<string> TensorOrder(ModelConfig config)
    {
        yield return "model.embed_tokens.weight";
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            foreach (var part in new[]
                     {
                         "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                         "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                     })
                yield return $"model.layers.{i}.{part}.weight";
        }
        yield return "model.norm.weight";
        yield return "lm_head.weight";
    }

    /// <summary>1-D tensors stay F32; 2-D ones take <paramref name="weightType"/> where their rows are whole blocks, else F16.</summary>
    private static GgmlType TypeFor(long[] shape, GgmlType weightType)
    {
        if (shape.Length < 2) return GgmlType.F32;
        var block = GgmlTypes.Layout(weightType)!.Value.BlockSize;
        return shape[^1] % block == 0 ? weightType : weightType == GgmlType.F32 ? GgmlType.F32 : GgmlType.F16;
    }
}
