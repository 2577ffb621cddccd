using Substrate.Nn.Ggml;
namespace Substrate.Interop.Gguf;

/// <summary>
/// The type each tensor takes in a GGUF file of one <see cref="GgufFileType"/>, chosen as llama.cpp's quantizer chooses
/// (llama-quant.cpp, llama_tensor_get_type, no importance matrix, for the dense families Substrate exports): 1-D tensors and
/// norms stay as they are (F32); the output head — or the token embeddings when tied — takes Q6_K in every quantized type
/// but Q8_0; the mixes give some attn_v / ffn_down / attn_output more bits:
/// <list type="bullet">
/// <item>Q2_K: attn_v Q3_K (Q4_K with 4+ query heads per kv head), ffn_down and attn_output Q3_K.</item>
/// <item>Q3_K_M: attn_v Q5_K in the first two layers, then Q4_K; ffn_down Q5_K in the first 1/16 of layers, else Q4_K;
/// attn_output Q4_K.</item>
/// <item>Q4_K_S: attn_v in the first four layers and ffn_down in the first 1/8 Q5_K.</item>
/// <item>Q4_K_M and Q5_K_M: attn_v and ffn_down Q6_K in about half the layers (the first and last eighth, and every third
/// between: llama.cpp's use_more_bits).</item>
/// </list>
/// Mixtures of experts: the routers (<c>ffn_gate_inp</c>) stay F32; the stacked experts (E, rows, columns) take their type
/// like any weight, row by row; <c>ffn_down</c>'s layer is read from its name (the expert and shared-expert stacks of one
/// layer share it); with exactly 8 experts attn_v and attn_k take Q8_0 and the K-quant mixes up to Q4_K_M give attn_output
/// Q5_K (llama.cpp's n_expert == 8 rules).
/// A tensor whose rows are not whole blocks of its type falls back as llama.cpp does (Q2_K/Q3_K → Q4_0, Q4_K → Q5_0,
/// Q5_K → Q5_1, Q6_K → Q8_0), and to F16 when those do not fit either. Call <see cref="Next"/> for the tensors in file order.
/// </summary>
public sealed class GgufTensorTypes
{
    private readonly GgufFileType fileType;
    private readonly GgmlType defaultType;
    private readonly bool tiedEmbeddings;
    private readonly int queryHeadsPerKvHead, expertCount;
    private readonly int attnVCount, ffnDownCount;
    private int attnVSeen, ffnDownSeen;

    /// <param name="tensorNames">every tensor of the file (GGUF names), to count layers and see whether the head is tied</param>
    /// <param name="queryHeadsPerKvHead">attention heads / kv heads (llama.cpp's n_gqa)</param>
    /// <param name="expertCount">experts per sparse layer (llama.cpp's n_expert); 0 for a dense model</param>
    public GgufTensorTypes(GgufFileType fileType, IReadOnlyCollection<string> tensorNames, int queryHeadsPerKvHead, int expertCount = 0)
    {
        this.expertCount = expertCount;
        this.fileType = fileType;
        defaultType = GgmlTypes.WeightType(fileType);
        tiedEmbeddings = !tensorNames.Contains("output.weight");
        this.queryHeadsPerKvHead = queryHeadsPerKvHead;
        attnVCount = tensorNames.Count(n => n.Contains("attn_v.weight"));
        ffnDownCount = expertCount > 1 ? attnVCount : tensorNames.Count(n => n.Contains("ffn_down")); // n_layer
    }

    /// <summary>The type of the next tensor, given its GGUF name and row-major shape.</summary>
    public GgmlType Next(string name, long[] shape)
    {
        if (!IsWeight(name, shape)) return GgmlType.F32;
        if (!IsQuantized(defaultType)) return defaultType;
        long columns = shape[^1];
        var type = Choose(name, columns);
        return Fallback(type, columns);
    }

    /// <summary>Whether a tensor takes the file type at all (llama.cpp's tensor_allows_quantization): 2-D or more, named
    /// *weight, not a norm, not a mixture's router. Others keep their type.</summary>
    public static bool IsWeight(string name, long[] shape) =>
        shape.Length >= 2 && name.EndsWith("weight", StringComparison.Ordinal) && !name.Contains("_norm.weight") && !name.Contains("ffn_gate_inp.weight");

    private GgmlType Choose(string name, long columns)
    {
        if (name == "output.weight" || (tiedEmbeddings && name == "token_embd.weight"))
            return columns % GgmlTypes.Layout(defaultType)!.Value.BlockSize != 0 ? GgmlType.Q8_0
                : defaultType != GgmlType.Q8_0 ? GgmlType.Q6_K : defaultType;
        if (name == "token_embd.weight") return defaultType;
        if (name.Contains("attn_v.weight")) return expertCount == 8 ? GgmlType.Q8_0 : AttentionValue(attnVSeen++);
        if (name.Contains("attn_k.weight")) return expertCount == 8 ? GgmlType.Q8_0 : defaultType;
        if (name.Contains("ffn_down")) return FeedForwardDown(expertCount > 1 ? LayerOf(name) : ffnDownSeen++);
        if (name.Contains("attn_output.weight")) return AttentionOutput();
        return defaultType;
    }

    private GgmlType AttentionOutput() => expertCount == 8
        ? fileType is GgufFileType.Q2_K or GgufFileType.Q3_K_M or GgufFileType.Q4_K_S or GgufFileType.Q4_K_M ? GgmlType.Q5_K : defaultType
        : fileType switch { GgufFileType.Q2_K => GgmlType.Q3_K, GgufFileType.Q3_K_M => GgmlType.Q4_K, _ => defaultType };

    /// <summary>N of <c>blk.N.…</c>: llama.cpp reads a mixture's layer from the name, as expert tensors need not come in layer order.</summary>
    private static int LayerOf(string name) =>
        name.StartsWith("blk.", StringComparison.Ordinal) && int.TryParse(name.AsSpan(4, name.IndexOf('.', 4) - 4), out int layer) ? layer
            : throw new InvalidDataException($"GGUF tensor {name}: no layer number (blk.N.) in an expert's name");

    private GgmlType AttentionValue(int layer) => fileType switch
    {
        GgufFileType.Q2_K => queryHeadsPerKvHead >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K,
        GgufFileType.Q3_K_M => layer < 2 ? GgmlType.Q5_K : GgmlType.Q4_K,
        GgufFileType.Q4_K_M or GgufFileType.Q5_K_M when UseMoreBits(layer, attnVCount) => GgmlType.Q6_K,
        GgufFileType.Q4_K_S when layer < 4 => GgmlType.Q5_K,
        _ => defaultType,
    };

    private GgmlType FeedForwardDown(int layer) => fileType switch
    {
        GgufFileType.Q2_K => GgmlType.Q3_K,
        GgufFileType.Q3_K_M => layer < ffnDownCount / 16 ? GgmlType.Q5_K : GgmlType.Q4_K,
        GgufFileType.Q4_K_M or GgufFileType.Q5_K_M when UseMoreBits(layer, ffnDownCount) => GgmlType.Q6_K,
        GgufFileType.Q4_K_S when layer < ffnDownCount / 8 => GgmlType.Q5_K,
        _ => defaultType,
    };

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer between.</summary>
    private static bool UseMoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    private static GgmlType Fallback(GgmlType type, long columns)
    {
        if (columns % GgmlTypes.Layout(type)!.Value.BlockSize == 0) return type;
        var next = type switch
        {
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => GgmlType.F16,
        };
        return columns % GgmlTypes.Layout(next)!.Value.BlockSize == 0 ? next : GgmlType.F16;
    }

    private static bool IsQuantized(GgmlType type) => type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);
}
