namespace Substrate.Nn.Ggml;

/// <summary>Tensor element types of ggml (the ids stored in GGUF tensor infos). Only some can be read or written here.</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
}

/// <summary>The <c>general.file_type</c> of a GGUF file (llama.cpp's llama_ftype): the type most weights have, and for the
/// K-quant mixes (_S, _M) the rule that picks each tensor's type (Interop's GgufQuantizer).</summary>
public enum GgufFileType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9, Q2_K = 10, Q3_K_M = 12,
    Q4_K_S = 14, Q4_K_M = 15, Q5_K_M = 17, Q6_K = 18, BF16 = 32,
}

/// <summary>Block geometry of the ggml types: a row of n elements takes n / BlockSize * BlockBytes bytes.</summary>
public static class GgmlTypes
{
    /// <summary>(elements per block, bytes per block), or null for a type this code does not know.</summary>
    public static (int BlockSize, int BlockBytes)? Layout(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 => (1, 2),
        GgmlType.BF16 => (1, 2),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_1 => (32, 36),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        GgmlType.Q8_K => (256, 292),
        GgmlType.IQ2_XXS => (256, 66),
        GgmlType.IQ2_XS => (256, 74),
        GgmlType.IQ3_XXS => (256, 98),
        GgmlType.IQ1_S => (256, 50),
        GgmlType.IQ4_NL => (32, 18),
        GgmlType.IQ3_S => (256, 110),
        GgmlType.IQ2_S => (256, 82),
        GgmlType.IQ4_XS => (256, 136),
        GgmlType.IQ1_M => (256, 56),
        GgmlType.TQ1_0 => (256, 54),
        GgmlType.TQ2_0 => (256, 66),
        GgmlType.MXFP4 => (32, 17),
        GgmlType.I8 => (1, 1),
        GgmlType.I16 => (1, 2),
        GgmlType.I32 => (1, 4),
        GgmlType.I64 => (1, 8),
        GgmlType.F64 => (1, 8),
        _ => null,
    };

    /// <summary>Types <see cref="GgmlQuant"/> can encode and decode.</summary>
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>The names <see cref="IsSupported"/> accepts, for error messages.</summary>
    public const string SupportedNames = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K";

    /// <summary>"f32", "f16", "bf16", "q8_0", "q4_0", … "q4_K_M" (any case) → the file type, and llama-quantize's aliases
    /// q3_K, q4_K, q5_K for the _M mixes; else ArgumentException listing them.</summary>
    public static GgufFileType ParseFileType(string name) =>
        Enum.GetValues<GgufFileType>().Where(t => t.ToString().Equals(name, StringComparison.OrdinalIgnoreCase)
                || t.ToString().Equals(name + "_M", StringComparison.OrdinalIgnoreCase) && name.EndsWith("_k", StringComparison.OrdinalIgnoreCase))
            .Cast<GgufFileType?>().FirstOrDefault()
        ?? throw new ArgumentException($"unknown GGUF type '{name}' (known: {string.Join(", ", Enum.GetValues<GgufFileType>().Select(Name))}; " +
            "q3_K, q4_K and q5_K name the _M mixes, as in llama-quantize)");

    /// <summary>llama.cpp's spelling of a file type: f32, q4_0, q4_K_M …</summary>
    public static string Name(GgufFileType fileType) =>
        fileType.ToString() is var s && s.Contains("_K") ? "q" + s[1..] : s.ToLowerInvariant();

    /// <summary>The tensor type of the 2-D weights of a file type (for a K-quant mix, the type most of them take).</summary>
    public static GgmlType WeightType(GgufFileType fileType) => fileType switch
    {
        GgufFileType.F32 => GgmlType.F32,
        GgufFileType.F16 => GgmlType.F16,
        GgufFileType.BF16 => GgmlType.BF16,
        GgufFileType.Q8_0 => GgmlType.Q8_0,
        GgufFileType.Q4_0 => GgmlType.Q4_0,
        GgufFileType.Q4_1 => GgmlType.Q4_1,
        GgufFileType.Q5_0 => GgmlType.Q5_0,
        GgufFileType.Q5_1 => GgmlType.Q5_1,
        GgufFileType.Q2_K => GgmlType.Q2_K,
        GgufFileType.Q3_K_M => GgmlType.Q3_K,
        GgufFileType.Q4_K_S or GgufFileType.Q4_K_M => GgmlType.Q4_K,
        GgufFileType.Q5_K_M => GgmlType.Q5_K,
        GgufFileType.Q6_K => GgmlType.Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "unsupported GGUF file type"),
    };
}
