using Substrate.Nn.Ggml;
using static TorchSharp.torch;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Exports a Llama-family model folder (config.json + safetensors + tokenizer.json) to a GGUF v3 file llama.cpp
/// loads: the family's architecture (<see cref="GgufArchitecture"/>: llama, qwen2, qwen3; Mistral as llama with its
/// sliding window) and its <c>{arch}.*</c> hyperparameters, rope scaling (linear as keys, llama3 and explicit factors as a <c>rope_freqs</c>
/// tensor), the tokenizer as <c>tokenizer.ggml.*</c>, tensors under llama.cpp's names with llama-arch q/k rows
/// permuted for its rotary layout. 2-D weights take the type llama.cpp's quantizer would give them in that file type
/// (<see cref="GgufTensorTypes"/>: the K-quant mixes, Q6_K heads, fallbacks for rows that are not whole blocks); norms and
/// other 1-D tensors stay F32. With tied
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
        var arch = GgufArchitecture.For(config);
        arch.CheckImplied(config);
        using var model = ModelFolder.LoadForInference(modelDir); // read-only: mapped, one tensor widened to fp32 at a time
        var writer = new GgufWriter();
        writer.Add("general.architecture", arch.Name);
        writer.Add("general.name", name ?? new DirectoryInfo(Path.GetFullPath(modelDir)).Name);
        writer.Add("general.file_type", (uint)fileType);
        if (fileType is not (GgufFileType.F32 or GgufFileType.F16 or GgufFileType.BF16)) writer.Add("general.quantization_version", 2u);
        AddHyperparameters(writer, arch, config);
        if (!GgufTokenizerExporter.AddTo(writer, modelDir, config.VocabSize, config))
            writer.Add("tokenizer.ggml.model", "none"); // no tokenizer.json: llama.cpp loads it without a vocabulary (ids only)

        var state = model.state_dict();
        var names = TensorOrder(config).Where(n => state.ContainsKey(n) || (arch.NeedsOutput && n == "lm_head.weight")) // no lm_head when tied
            .Where(n => LlamaGgufNames.StackedName(n).Expert is null or 0).ToList(); // an expert stack once, at expert 0
        var types = new GgufTensorTypes(fileType, names.Select(n => arch.ToGguf(n)!).ToList(),
            config.NumAttentionHeads / config.NumKeyValueHeads, config.ExpertCount);
        if (RopeFactors(config, arch) is { } factors) writer.AddTensor(GgufRopeFreqs.TensorName, [factors.Length], factors, GgmlType.F32);
        if (config.RopeScaling is { IsLongRope: true } longRope && arch.Name == "phi3")
        {
            writer.AddTensor("rope_factors_long.weight", [longRope.LongFactor!.Count], longRope.LongFactor.Select(f => (float)f).ToArray(), GgmlType.F32);
            writer.AddTensor("rope_factors_short.weight", [longRope.ShortFactor!.Count], longRope.ShortFactor.Select(f => (float)f).ToArray(), GgmlType.F32);
        }
        foreach (var hfName in names)
        {
            var ggufName = arch.ToGguf(hfName)!;
            var (shape, values) = Values(state, hfName, config.ExpertCount);
            if (ggufName.EndsWith("ffn_gate_inp_shexp.weight", StringComparison.Ordinal)) shape = [shape[^1]]; // (1, H) → llama.cpp's (H)
            values = arch.Values(ggufName, values, config, shape.Length == 2 ? (int)shape[1] : 1);
            writer.AddTensor(ggufName, shape, values, types.Next(ggufName, shape));
            progress?.Invoke(names.IndexOf(hfName) + 1, names.Count, ggufName);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        writer.Write(outPath);
    }

    /// <summary>A parameter's shape and fp32 values; for an expert's weight, the stack of all <paramref name="experts"/>
    /// experts' (E, rows, cols), as llama.cpp's <c>ffn_*_exps</c> hold them.</summary>
    private static (long[] Shape, float[] Values) Values(Dictionary<string, Tensor> state, string hfName, int experts)
    {
        if (hfName == "lm_head.weight" && !state.ContainsKey(hfName)) hfName = "model.embed_tokens.weight"; // tied, for a file that needs output
        var (stacked, expert) = LlamaGgufNames.StackedName(hfName);
        var parts = expert is null ? [hfName]
            : Enumerable.Range(0, experts).Select(e => stacked.Replace($".experts.{LlamaGgufNames.ExpertWildcard}.", $".experts.{e}.")).ToArray();
        var values = new List<float>();
        foreach (var part in parts)
            using (var f32 = state[part].detach().to(ScalarType.Float32).cpu().contiguous()) values.AddRange(f32.data<float>());
        var shape = state[hfName].shape;
        return (expert is null ? shape : [experts, .. shape], values.ToArray());
    }

    /// <summary>The <c>{arch}.*</c> keys llama.cpp reads for these architectures (llama-arch.cpp's LLM_KV names).</summary>
    private static void AddHyperparameters(GgufWriter writer, GgufArchitecture arch, ModelConfig config)
    {
        writer.Add(arch.Key("vocab_size"), (uint)config.VocabSize);
        writer.Add(arch.Key("context_length"), (uint)config.MaxPositionEmbeddings);
        writer.Add(arch.Key("embedding_length"), (uint)config.HiddenSize);
        writer.Add(arch.Key("block_count"), (uint)config.NumHiddenLayers);
        writer.Add(arch.Key("feed_forward_length"), (uint)config.IntermediateSize);
        writer.Add(arch.Key("rope.dimension_count"), (uint)config.HeadDim);
        writer.Add(arch.Key("attention.head_count"), (uint)config.NumAttentionHeads);
        writer.Add(arch.Key("attention.head_count_kv"), (uint)config.NumKeyValueHeads);
        if (config.HeadDim * config.NumAttentionHeads != config.HiddenSize)
        {
            writer.Add(arch.Key("attention.key_length"), (uint)config.HeadDim);
            writer.Add(arch.Key("attention.value_length"), (uint)config.HeadDim);
        }
        writer.Add(arch.Key("attention.layer_norm_rms_epsilon"), (float)config.RmsNormEps);
        writer.Add(arch.Key("rope.freq_base"), (float)config.RopeTheta);
        if (config.SlidingWindow is { } window) writer.Add(arch.Key("attention.sliding_window"), (uint)window);
        if (config.ExpertCount > 0)
        {
            writer.Add(arch.Key("expert_count"), (uint)config.ExpertCount);
            writer.Add(arch.Key("expert_used_count"), (uint)config.ExpertsPerToken);
            if (config.MoeIntermediateSize is { } width) writer.Add(arch.Key("expert_feed_forward_length"), (uint)width);
            if (config.SharedExpertSize > 0) writer.Add(arch.Key("expert_shared_feed_forward_length"), (uint)config.SharedExpertSize);
        }
        switch (config.RopeScaling?.Type)
        {
            case null or "default" or "llama3": break; // llama3: the rope_freqs tensor
            case "longrope" or "su" when arch.Name == "llama" && ExplicitFactors(config) is not null: break; // rope_freqs too
            case "longrope" or "su" when arch.Name == "phi3": // the rope_factors_long / _short tensors
                writer.Add(arch.Key("rope.scaling.original_context_length"), (uint)config.LongRopeFrom!.Value);
                writer.Add(arch.Key("rope.scaling.attn_factor"), (float)config.RopeAttentionFactor);
                break;
            case "linear":
                writer.Add(arch.Key("rope.scaling.type"), "linear");
                writer.Add(arch.Key("rope.scaling.factor"), (float)config.RopeScaling.Factor!.Value);
                break;
            default: throw new NotSupportedException($"rope_scaling '{config.RopeScaling.Type}' has no llama.cpp counterpart");
        }
        if (config.RopeScaling?.Type == "llama3" && arch.Name != "llama")
            throw new NotSupportedException($"rope_scaling 'llama3' exports for the llama architecture only, not '{arch.Name}'");
    }

    /// <summary>
    /// Rope scaling that llama.cpp takes as a <c>rope_freqs</c> tensor of hd/2 factors dividing the plain frequencies: llama3
    /// (plain / scaled, from the one <see cref="RopeScaling.Scale"/>), and for the llama architecture a longrope that is only explicit
    /// factors (<see cref="ExplicitFactors"/>: what an import of a rope_freqs that fits no llama3 parameters writes); null
    /// for other configs.
    /// </summary>
    public static float[]? RopeFactors(ModelConfig config, GgufArchitecture arch) => config.RopeScaling switch
    {
        { Type: "llama3" } scaling => GgufRopeFreqs.Factors(scaling, config.HeadDim, config.RopeTheta),
        { IsLongRope: true } when arch.Name == "llama" => ExplicitFactors(config),
        _ => null,
    };

    /// <summary>A longrope whose short and long factors are the same and whose attention factor is 1: the same frequencies at
    /// every position, each plain one divided by its factor — those factors as float32; null for any other scaling.</summary>
    private static float[]? ExplicitFactors(ModelConfig config) =>
        config.RopeScaling is { IsLongRope: true, ShortFactor: { } shortFactor, LongFactor: { } longFactor }
        && shortFactor.SequenceEqual(longFactor) && config.RopeAttentionFactor == 1
            ? shortFactor.Select(f => (float)f).ToArray() : null;

    /// <summary>HF parameter names in llama.cpp's order: embeddings, then each block, then the final norm and head
    /// (<see cref="ModelLayout"/>'s order, with <c>lm_head</c> even when tied).</summary>
    public static IEnumerable<string> TensorOrder(ModelConfig config) =>
        ModelLayout.Parameters(config with { TieWordEmbeddings = false }).Select(p => p.Name);
}
