using Substrate.Nn.Ggml;
using System.Globalization;
using static TorchSharp.torch;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Imports a llama, qwen2, qwen3, gemma3 or phi3 GGUF file into a Hugging Face folder of that family: config.json from the
/// <c>{arch}.*</c> keys (a <c>rope_freqs</c> tensor as llama3 <c>rope_scaling</c>, see <see cref="GgufRopeFreqs"/>),
/// model.safetensors (fp32) from the tensors (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q2_K…Q6_K
/// are decoded as ggml decodes them; llama-arch q/k rows are put back in HF's rotate_half order, gemma norms lose the 1
/// the file adds), tokenizer.json and tokenizer_config.json from <c>tokenizer.ggml.*</c>.
/// </summary>
public static class GgufImporter
{
    /// <param name="ggufPath">a llama, qwen2 or qwen3 GGUF file (tensors of any type <see cref="GgmlTypes.IsSupported"/>)</param>
    /// <param name="outDir">the HF folder to write (created; its files are replaced atomically)</param>
    /// <param name="progress">called after each tensor with (tensors done, tensors in all, tensor name)</param>
    /// <returns>the config written to config.json</returns>
    public static ModelConfig Import(string ggufPath, string outDir, Action<int, int, string>? progress = null)
    {
        using var reader = new GgufReader(ggufPath);
        var config = ReadConfig(reader);
        var arch = GgufArchitecture.For(config);
        var rng = get_rng_state();
        LlamaForCausalLM model;
        try { model = new LlamaForCausalLM(config); }
        finally { set_rng_state(rng); rng.Dispose(); }
        using (model)
        {
            var state = model.state_dict();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var info in reader.Tensors.Where(t => !RopeTensors.Contains(t.Name))) // rotary factors are config
            {
                var hf = arch.ToHf(info.Name)
                    ?? throw new NotSupportedException($"{ggufPath}: tensor '{info.Name}' has no counterpart in a Llama folder");
                var parts = Unstacked(hf, config.ExpertCount); // an expert stack's E parameters, else hf alone
                if (!state.TryGetValue(parts[0], out var target))
                    throw new InvalidDataException($"{ggufPath}: tensor '{info.Name}' does not belong to the model its metadata describes");
                long[] expected = parts.Length > 1 ? [parts.Length, .. target.shape]
                    : info.Name.EndsWith("ffn_gate_inp_shexp.weight", StringComparison.Ordinal) ? [target.shape[^1]] : target.shape;
                if (!info.Shape.SequenceEqual(expected))
                    throw new InvalidDataException(
                        $"{ggufPath}: tensor '{info.Name}' has shape [{string.Join(", ", info.Shape)}]; " +
                        $"the metadata needs [{string.Join(", ", expected)}]");
                var values = arch.Values(info.Name, reader.ReadFloats(info), config, info.Shape.Length == 2 ? (int)info.Shape[1] : 1, inverse: true);
                var size = values.Length / parts.Length;
                for (int e = 0; e < parts.Length; e++)
                    using (no_grad())
                    using (var loaded = tensor(values.AsSpan(e * size, size).ToArray(), target.shape)) state[parts[e]].copy_(loaded);
                seen.UnionWith(parts);
                progress?.Invoke(seen.Count, reader.Tensors.Count, info.Name);
            }
            var missing = state.Keys.Where(k => !seen.Contains(k)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException(
                    $"{ggufPath}: {missing.Count} tensor(s) missing: {string.Join(", ", missing.Take(5).Select(m => arch.ToGguf(m) ?? m))}");
            ModelFolder.Save(model, outDir);
        }
        GgufTokenizerImporter.WriteFolder(reader, outDir);
        return config;
    }

    /// <summary>The HF parameters a GGUF tensor fills: an expert stack's one per expert, else the one named.</summary>
    private static string[] Unstacked(string hf, int experts)
    {
        var wildcard = $".experts.{LlamaGgufNames.ExpertWildcard}.";
        return hf.Contains(wildcard, StringComparison.Ordinal)
            ? Enumerable.Range(0, experts).Select(e => hf.Replace(wildcard, $".experts.{e}.")).ToArray() : [hf];
    }

    /// <summary>The model a llama, qwen2 or qwen3 GGUF file describes (a llama file with a sliding window is Mistral);
    /// unsupported variants → NotSupportedException.</summary>
    public static ModelConfig ReadConfig(GgufReader r)
    {
        var name = r.GetString("general.architecture") ?? throw new InvalidDataException($"{r.Path}: general.architecture is missing");
        var window = (int?)r.GetInt($"{name}.attention.sliding_window");
        var experts = (int?)r.GetInt($"{name}.expert_count") ?? 0;
        var arch = GgufArchitecture.FromFile(name, window is not null, experts > 0)
            ?? throw new NotSupportedException(
                $"{r.Path}: architecture '{name}' cannot be imported (supported: {string.Join(", ", GgufArchitecture.All.Select(a => a.Name).Distinct())})");
        int Int(string key, int? fallback = null) =>
            (int?)r.GetInt(arch.Key(key)) ?? fallback ?? throw new InvalidDataException($"{r.Path}: metadata key '{arch.Key(key)}' is missing");
        var scaling = r.GetString(arch.Key("rope.scaling.type")) is { } type && type != "none"
            ? type == "linear" ? new RopeScaling { RopeType = "linear", Factor = Shortest(r.GetDouble(arch.Key("rope.scaling.factor")) ?? 1) }
                : throw new NotSupportedException($"{r.Path}: rope scaling '{type}' is not supported")
            : null;
        if (LongRope(r, arch) is { } longRope) scaling = longRope;
        if (!r.Contains("token_embd.weight")) throw new InvalidDataException($"{r.Path}: tensor 'token_embd.weight' is missing");

        int hidden = Int("embedding_length");
        int heads = Int("attention.head_count");
        int headDim = Int("attention.key_length", hidden / Math.Max(1, heads));
        int rotary = Int("rope.dimension_count", headDim);
        if (rotary != headDim) throw new NotSupportedException($"{r.Path}: partial rotary ({rotary} of {headDim} dims) is not supported");
        var theta = Shortest(r.GetDouble(arch.Key("rope.freq_base")) ?? 10000);
        if (GgufRopeFreqs.Read(r, arch, headDim, theta, Int("context_length")) is { } freqs)
            scaling = scaling is null ? freqs // llama3 (or explicit factors) from rope_freqs
                : throw new NotSupportedException($"{r.Path}: rope_freqs together with rope scaling '{scaling.Type}' is not supported");
        var config = arch.Implied(arch.Family.Apply(new ModelConfig
        {
            VocabSize = (int)r.Tensor("token_embd.weight").Shape[0],
            HiddenSize = hidden,
            NumHiddenLayers = Int("block_count"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int("attention.head_count_kv", heads),
            IntermediateSize = Int("feed_forward_length"),
            MaxPositionEmbeddings = Int("context_length"),
            RopeTheta = theta,
            RmsNormEps = Shortest(r.GetDouble(arch.Key("attention.layer_norm_rms_epsilon")) ?? 1e-5),
            TieWordEmbeddings = !r.Contains("output.weight"),
            HeadDimOverride = headDim * heads != hidden || arch.Family.QkNorm ? headDim : null,
            RopeScaling = scaling,
            SlidingWindowSize = window,
            OriginalMaxPositionEmbeddings = scaling is { IsLongRope: true, FrequencyFactors: null } ? Int("rope.scaling.original_context_length") : null,
            BosTokenId = (int?)r.GetInt("tokenizer.ggml.bos_token_id"),
            EosTokenId = (int?)r.GetInt("tokenizer.ggml.eos_token_id"),
        }));
        if (experts > 0) config = Experts(config, experts, Int("expert_used_count"), (int?)r.GetInt(arch.Key("expert_feed_forward_length")),
            (int?)r.GetInt(arch.Key("expert_shared_feed_forward_length")));
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{r.Path}: {e.Message}", e); }
        return config;
    }

    /// <summary>A mixture of experts as llama.cpp runs it: every layer sparse, top-k renormalised but for qwen2moe, the
    /// count under the family's key (Mixtral's num_local_experts, Qwen's num_experts), Qwen's expert widths.</summary>
    private static ModelConfig Experts(ModelConfig config, int experts, int used, int? width, int? sharedWidth)
    {
        var mixtral = config.Family?.Experts?.CountKey == "num_local_experts";
        return config with
        {
            NumLocalExperts = mixtral ? experts : null, NumExperts = mixtral ? null : experts, NumExpertsPerTok = used,
            MoeIntermediateSize = mixtral ? null : width ?? config.IntermediateSize / used,
            SharedExpertIntermediateSize = config.Family?.Experts?.SharedExpert == true ? sharedWidth ?? config.IntermediateSize : null,
            NormTopkProb = mixtral ? null : config.Family?.Experts?.SharedExpert != true,
        };
    }

    private static readonly string[] LongRopeTensors = ["rope_factors_long.weight", "rope_factors_short.weight"];
    private static readonly string[] RopeTensors = [.. LongRopeTensors, GgufRopeFreqs.TensorName];

    /// <summary>Phi-3's longrope from its factor tensors, with attention_factor where the file's differs from the one the
    /// config implies; null without them.</summary>
    private static RopeScaling? LongRope(GgufReader r, GgufArchitecture arch)
    {
        if (!r.Contains(LongRopeTensors[0]) || !r.Contains(LongRopeTensors[1])) return null;
        var original = (int?)r.GetInt(arch.Key("rope.scaling.original_context_length"))
            ?? throw new InvalidDataException($"{r.Path}: longrope factors without '{arch.Key("rope.scaling.original_context_length")}'");
        var scaling = new RopeScaling
        {
            RopeType = "longrope",
            LongFactor = r.ReadFloats(LongRopeTensors[0]).Select(f => Shortest(f)).ToArray(),
            ShortFactor = r.ReadFloats(LongRopeTensors[1]).Select(f => Shortest(f)).ToArray(),
        };
        var context = (int?)r.GetInt(arch.Key("context_length")) ?? original;
        var implied = new ModelConfig { MaxPositionEmbeddings = context, OriginalMaxPositionEmbeddings = original, RopeScaling = scaling, ModelType = "phi3" };
        var factor = r.GetDouble(arch.Key("rope.scaling.attn_factor")) ?? 1;
        return Math.Abs(factor - implied.RopeAttentionFactor) < 1e-6 ? scaling : scaling with { AttentionFactor = Shortest(factor) };
    }

    // GGUF stores these as float32: 1e-5f widens to 9.99999974737875E-06. Keep the decimal the writer meant.
    internal static double Shortest(double value) =>
        double.Parse(((float)value).ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
