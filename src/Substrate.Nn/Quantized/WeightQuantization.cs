namespace Substrate.Nn.Quantized;

/// <summary>
/// How a frozen base weight is stored under QLoRA: ggml's Q8_0 (32-value blocks, 8.5 bits a weight) or Q4_K (256-value
/// super-blocks, 4.5 bits) — the layouts of a .gguf file, bit for bit — or bitsandbytes' NF4 (64-value blocks of 4-bit
/// NormalFloat codes under an fp32 absmax, 4.5 bits; no double quantization).
/// </summary>
public enum WeightQuantization { Q8_0, Q4_K, Nf4 }

public static class WeightQuantizations
{
    /// <summary>The names <see cref="Parse"/> accepts, for error messages and help.</summary>
    public const string Names = "q8_0, q4_K, nf4";

    /// <summary>"q8_0", "q4_K", "nf4" (any case) → the format; else ArgumentException listing them.</summary>
    public static WeightQuantization Parse(string name) => name.ToLowerInvariant() switch
    {
        "q8_0" => WeightQuantization.Q8_0,
        "q4_k" => WeightQuantization.Q4_K,
        "nf4" => WeightQuantization.Nf4,
        _ => throw new ArgumentException($"unknown base quantization '{name}' (known: {Names})"),
    };

    /// <summary>llama.cpp's / bitsandbytes' spelling: q8_0, q4_K, nf4.</summary>
    public static string Name(this WeightQuantization q) => q switch
    {
        WeightQuantization.Q8_0 => "q8_0",
        WeightQuantization.Q4_K => "q4_K",
        _ => "nf4",
    };

    /// <summary>(values per block, bytes per block).</summary>
    public static (int Values, int Bytes) Block(this WeightQuantization q) => q switch
    {
        WeightQuantization.Q8_0 => (32, 34),
        WeightQuantization.Q4_K => (256, 144),
        _ => (Nf4.BlockSize, Nf4.BlockBytes),
    };
}
