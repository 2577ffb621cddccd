using System.Diagnostics;
using Substrate.Inference;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// Decode speed at batch 1: bench-12m (random init, seeded), a 128-token prompt, greedy decoding with
/// the KV cache until the 256-position context is full; fp32 and bf16 compute. Reports the prefill time
/// and the decode tokens/s after the first token.
/// </summary>
internal static class DecodeBenchmark
{
    private const int PromptTokens = 128;

    public static void Run()
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            manual_seed(0);
            var config = ModelPresets.Get("bench-12m");
            using var model = new LlamaForCausalLM(config, new ModelOptions { ComputeDtype = dtype });
            model.eval();
            var prompt = Enumerable.Range(0, PromptTokens).Select(i => (i * 7919) % config.VocabSize).ToArray();
            var options = new GenerationOptions { MaxTokens = config.MaxPositionEmbeddings - PromptTokens, Temperature = 0 };
            var generator = new TokenGenerator(model);
            _ = generator.Generate(prompt, options with { MaxTokens = 16 }).Count(); // warm-up

            var best = (Prefill: double.MaxValue, PerToken: double.MaxValue, Tokens: 0);
            for (var run = 0; run < 3; run++)
            {
                var watch = Stopwatch.StartNew();
                double first = 0;
                var count = 0;
                foreach (var _ in generator.Generate(prompt, options))
                    if (count++ == 0) first = watch.Elapsed.TotalSeconds;
                var perToken = (watch.Elapsed.TotalSeconds - first) / (count - 1);
                if (perToken < best.PerToken) best = (first, perToken, count);
            }
            JsonLine.Write(new
            {
                bench = "decode",
                model = "bench-12m",
                dtype = dtype == ScalarType.Float32 ? "float32" : "bfloat16",
                batch = 1,
                prompt_tokens = PromptTokens,
                new_tokens = best.Tokens,
                prefill_ms = JsonLine.Round(best.Prefill * 1000, 2),
                decode_ms_per_token = JsonLine.Round(best.PerToken * 1000, 3),
                tokens_per_s = JsonLine.Round(1 / best.PerToken),
                threads = get_num_threads(),
            });
        }
    }
}
