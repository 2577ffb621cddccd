using System.Runtime.InteropServices;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Prefill for <see cref="CpuDecoder"/> through the TorchSharp model: one batched forward over the whole prompt
/// (matrix-matrix products, where libtorch's per-op overhead is paid once per prompt, not once per token) into a
/// <see cref="Substrate.Nn.KvCache"/>, whose keys/values are then copied into the decoder's fp32 cache, and the last
/// position's final hidden state, for the decoder's head.
/// </summary>
internal static unsafe class CpuDecoderPrefill
{
    /// <param name="keys">(L, nKv, maxLength, hd) fp32, filled at positions [0, T).</param>
    /// <param name="values">(L, nKv, maxLength, hd) fp32, filled at positions [0, T).</param>
    /// <param name="hidden">(H) the final hidden state (after the last norm) of the prompt's last token: the decoder's own head
    /// kernel takes it from there (libtorch's bf16 product would first reorder the whole (V, H) head, ~500 MB at Llama 3.2 1B).</param>
    public static void Run(LlamaForCausalLM model, IReadOnlyList<int> prompt, float* keys, float* values, int maxLength, Span<float> hidden)
    {
        var config = model.Config;
        var (t, kvHeads, headDim) = (prompt.Count, config.NumKeyValueHeads, config.HeadDim);
        using var cache = model.CreateCache(1, t);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(prompt.Select(i => (long)i).ToArray(), [1, t]);     // (1, T)
        var states = model.HiddenStates(ids, cache, 0);                      // (1, T, H) fp32
        MemoryMarshal.Cast<byte, float>(states[0, t - 1].contiguous().bytes).CopyTo(hidden);
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            var (k, v) = cache.Layer(layer);                                 // (1, nKv, T, hd) in the compute dtype
            Copy(k, keys, layer);
            Copy(v, values, layer);
        }

        void Copy(Tensor source, float* target, int layer)
        {
            var f32 = source[0].to(ScalarType.Float32).contiguous();        // (nKv, T, hd)
            var from = MemoryMarshal.Cast<byte, float>(f32.bytes);
            for (var h = 0; h < kvHeads; h++)
                from.Slice(h * t * headDim, t * headDim)
                    .CopyTo(new Span<float>(target + ((long)layer * kvHeads + h) * maxLength * headDim, t * headDim));
        }
    }
}
