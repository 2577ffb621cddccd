using Substrate.Inference;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// Decode speed per family at bench-12m's shape (fp32, random init, seeded, libtorch's threads): llama, gemma3_text with
/// its switches (window 64, so decoding runs past it; every 6th layer full) and phi3 (fused projections, longrope past
/// position 64), through the fast CPU decoder and the TorchSharp
/// forward, as <see cref="DecodeBenchmark"/> measures them.
/// </summary>
internal static class DecodeFamiliesBenchmark
{
    public static void Run()
    {
        var shape = ModelPresets.Get("bench-12m");
        var families = new (string Name, ModelConfig Config)[]
        {
            ("llama", shape),
            ("gemma3_text", ModelFamily.Gemma3.Apply(shape with { SlidingWindowSize = 64 })),
            ("phi3", ModelFamily.Phi3.Apply(shape with
            {
                OriginalMaxPositionEmbeddings = 64, SlidingWindowSize = 2047, RopeScaling = new RopeScaling
                { RopeType = "longrope", ShortFactor = Enumerable.Repeat(1.0, 32).ToArray(), LongFactor = Enumerable.Repeat(4.0, 32).ToArray() },
            })),
        };
        foreach (var (name, config) in families)
        foreach (var decoder in new[] { DecoderImplementation.Fast, DecoderImplementation.Torch })
        {
            manual_seed(0);
            using var model = new LlamaForCausalLM(config);
            model.eval();
            var best = DecodeBenchmark.Measure(model, decoder);
            JsonLine.Write(new
            {
                bench = "decode-families",
                model_type = name,
                decoder = decoder == DecoderImplementation.Fast ? "fast" : "torch",
                new_tokens = best.Tokens,
                prefill_ms = JsonLine.Round(best.Prefill * 1000, 2),
                decode_ms_per_token = JsonLine.Round(best.PerToken * 1000, 3),
                tokens_per_s = JsonLine.Round(1 / best.PerToken),
                threads = get_num_threads(),
            });
        }
    }
}
