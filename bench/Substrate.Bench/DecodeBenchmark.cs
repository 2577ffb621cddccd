using System.Diagnostics;
using Substrate.Inference;
using Substrate.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// Decode speed at batch 1: bench-12m (random init, seeded), a 128-token prompt, greedy decoding with
/// the KV cache until the 256-position context is full. Variants: fp32; bf16 compute over fp32 master
/// weights (cast per forward, as in training); bf16 weights (WeightDtype = BFloat16, the inference setup),
/// each through the TorchSharp forward (decoder "torch"); fp32 and bf16 weights through <see cref="CpuDecoder"/>
/// (decoder "fast", fp32 activations). Each on one thread and on all of libtorch's threads. Reports the
/// prefill time, the decode tokens/s after the first token (best of 3 runs), the process CPU time per decoded
/// token, and the weight bytes read per token times tokens/s (the memory bandwidth the decoder draws).
/// </summary>
internal static class DecodeBenchmark
{
    private const int PromptTokens = 128;

    public static void Run()
    {
        var allThreads = get_num_threads();
        var variants = new (string Name, ScalarType Compute, bool Bf16Weights, DecoderImplementation Decoder)[]
        {
            ("float32", ScalarType.Float32, false, DecoderImplementation.Torch),
            ("bfloat16-compute", ScalarType.BFloat16, false, DecoderImplementation.Torch),
            ("bfloat16-weights", ScalarType.BFloat16, true, DecoderImplementation.Torch),
            ("float32", ScalarType.Float32, false, DecoderImplementation.Fast),
            ("bfloat16-weights", ScalarType.BFloat16, true, DecoderImplementation.Fast),
        };
        foreach (var threads in new[] { 1, allThreads }.Distinct())
        foreach (var (name, compute, bf16Weights, decoder) in variants)
        {
            set_num_threads(threads);
            manual_seed(0);
            var config = ModelPresets.Get("bench-12m");
            using var model = new LlamaForCausalLM(config, new ModelOptions
            {
                ComputeDtype = compute,
                WeightDtype = bf16Weights ? ScalarType.BFloat16 : ScalarType.Float32,
            });
            model.eval();
            var best = Measure(model, decoder);
            JsonLine.Write(new
            {
                bench = "decode",
                model = "bench-12m",
                dtype = name,
                decoder = decoder == DecoderImplementation.Fast ? "fast" : "torch",
                batch = 1,
                prompt_tokens = PromptTokens,
                new_tokens = best.Tokens,
                prefill_ms = JsonLine.Round(best.Prefill * 1000, 2),
                decode_ms_per_token = JsonLine.Round(best.PerToken * 1000, 3),
                tokens_per_s = JsonLine.Round(1 / best.PerToken),
                cpu_ms_per_token = JsonLine.Round(best.CpuPerToken * 1000, 3), // on one thread: the cost free of other processes' load
                threads,
                weight_gb_per_s = JsonLine.Round(WeightBytesPerToken(model) / best.PerToken / 1e9, 2),
            });
        }
        set_num_threads(allThreads);
    }

    /// <summary>Greedy decoding of a 128-token prompt until the context is full, after a warm-up: the best of 3 runs' prefill
    /// seconds, seconds per decoded token after the first, tokens, and process CPU seconds per decoded token.</summary>
    public static (double Prefill, double PerToken, int Tokens, double CpuPerToken) Measure(LlamaForCausalLM model, DecoderImplementation decoder)
    {
        var config = model.Config;
        var prompt = Enumerable.Range(0, PromptTokens).Select(i => (i * 7919) % config.VocabSize).ToArray();
        var options = new GenerationOptions { MaxTokens = config.MaxPositionEmbeddings - PromptTokens, Temperature = 0, Decoder = decoder };
        var generator = new TokenGenerator(model);
        _ = generator.Generate(prompt, options with { MaxTokens = 16 }).Count(); // warm-up

        var best = (Prefill: double.MaxValue, PerToken: double.MaxValue, Tokens: 0, CpuPerToken: 0.0);
        var process = Process.GetCurrentProcess();
        for (var run = 0; run < 3; run++)
        {
            var watch = Stopwatch.StartNew();
            double first = 0;
            var cpuFirst = TimeSpan.Zero;
            var count = 0;
            foreach (var _ in generator.Generate(prompt, options))
                if (count++ == 0)
                {
                    first = watch.Elapsed.TotalSeconds;
                    process.Refresh();
                    cpuFirst = process.TotalProcessorTime;
                }
            var perToken = (watch.Elapsed.TotalSeconds - first) / (count - 1);
            process.Refresh();
            var cpuPerToken = (process.TotalProcessorTime - cpuFirst).TotalSeconds / (count - 1);
            if (perToken < best.PerToken) best = (first, perToken, count, cpuPerToken);
        }
        return best;
    }

    /// <summary>Bytes of weights one decoded token reads: every parameter once (with tied embeddings the table is the
    /// head, read whole), except the embedding table of an untied model, of which one row is read.</summary>
    public static long WeightBytesPerToken(LlamaForCausalLM model) =>
        model.named_parameters()
            .Where(p => model.Config.TieWordEmbeddings || p.name != "model.embed_tokens.weight")
            .Sum(p => p.parameter.numel() * p.parameter.ElementSize);
}
