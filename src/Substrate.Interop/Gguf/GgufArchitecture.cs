using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// How llama.cpp names each model family: its <c>general.architecture</c> (the prefix of the hyperparameter keys) and
/// whether its q/k rows take the GGML rotary permutation (llama-arch files only; qwen2/qwen3 rotate halves, as
/// Hugging Face does). Mistral is a llama-arch file whose sliding window rides in <c>llama.attention.sliding_window</c>.
/// The one table between <see cref="ModelFamily"/> and GGUF.
/// </summary>
public sealed record GgufArchitecture(string Name, ModelFamily Family, bool PermuteQk)
{
    public static IReadOnlyList<GgufArchitecture> All { get; } =
    [
        new("llama", ModelFamily.Llama, PermuteQk: true),
        new("llama", ModelFamily.Mistral, PermuteQk: true),
        new("qwen2", ModelFamily.Qwen2, PermuteQk: false),
        new("qwen3", ModelFamily.Qwen3, PermuteQk: false),
    ];

    /// <summary>The GGUF architecture a config exports as.</summary>
    public static GgufArchitecture For(ModelConfig config) => All.First(a => a.Family == config.Family);

    /// <summary>The family a file's <c>general.architecture</c> names; a llama file with a sliding window is Mistral.</summary>
    public static GgufArchitecture? FromFile(string name, bool slidingWindow) =>
        All.FirstOrDefault(a => a.Name == name && (name != "llama" || a.Family.HonoursSlidingWindow == slidingWindow));

    /// <summary>The hyperparameter key <paramref name="key"/> under this architecture's prefix (<c>qwen2.block_count</c>).</summary>
    public string Key(string key) => $"{Name}.{key}";

    /// <summary>HF q/k rows → GGML's layout where this architecture wants it (<see cref="LlamaGgufNames.PermuteForGguf"/>);
    /// other tensors and architectures pass through. <paramref name="inverse"/> undoes it.</summary>
    public float[] Rows(string ggufName, float[] values, ModelConfig config, int cols, bool inverse = false)
    {
        if (!PermuteQk) return values;
        int? heads = ggufName.EndsWith("attn_q.weight", StringComparison.Ordinal) ? config.NumAttentionHeads
            : ggufName.EndsWith("attn_k.weight", StringComparison.Ordinal) ? config.NumKeyValueHeads : null;
        if (heads is not { } h) return values;
        return inverse ? LlamaGgufNames.UnpermuteFromGguf(values, h, cols) : LlamaGgufNames.PermuteForGguf(values, h, cols);
    }
}
