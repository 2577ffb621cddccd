namespace Substrate.Interop.Gguf;

/// <summary>Tensor element types of ggml (the ids stored in GGUF tensor infos). Only some can be read or written here.</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
}

/// <summary>The <c>general.file_type</c> of a GGUF file (llama.cpp's llama_ftype): the type most weights have.</summary>
public enum GgufFileType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 7, BF16 = 32,
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
        GgmlType.I8 => (1, 1),
        GgmlType.I16 => (1, 2),
        GgmlType.I32 => (1, 4),
        GgmlType.I64 => (1, 8),
        GgmlType.F64 => (1, 8),
        _ => null,
    };

    /// <summary>Types <see cref="GgmlQuant"/> can encode and decode.</summary>
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <summary>"f32", "f16", "bf16", "q8_0", "q4_0" (any case) → the file type; else ArgumentException listing them.</summary>
    public static GgufFileType ParseFileType(string name) => name.ToLowerInvariant() switch
    {
        "f32" => GgufFileType.F32,
        "f16" => GgufFileType.F16,
        "bf16" => GgufFileType.BF16,
        "q8_0" => GgufFileType.Q8_0,
        "q4_0" => GgufFileType.Q4_0,
        _ => throw new ArgumentException($"unknown GGUF type '{name}' (known: f32, f16, bf16, q8_0, q4_0)", nameof(name)),
    };

    /// <summary>The tensor type of the 2-D weights of a file type.</summary>
    public static GgmlType WeightType(GgufFileType fileType) => fileType switch
    {
        GgufFileType.F32 => GgmlType.F32,
        GgufFileType.F16 => GgmlType.F16,
        GgufFileType.BF16 => GgmlType.BF16,
        GgufFileType.Q8_0 => GgmlType.Q8_0,
        GgufFileType.Q4_0 => GgmlType.Q4_0,
        _ => throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "unsupported GGUF file type"),
    };
}
