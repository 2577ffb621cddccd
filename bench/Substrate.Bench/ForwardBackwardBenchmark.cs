using System.Diagnostics;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// The model's share of a training step: forward, cross-entropy, backward for bench-12m at batch
/// 8 × 256 (fused attention), fp32 and bf16 mixed precision; no optimizer. Reports the median step,
/// tokens/s, and model FLOP utilization against this machine's measured matmul peak
/// (6·N·tokens + attention FLOPs per step, N = non-embedding parameters + the tied output projection).
/// </summary>
internal static class ForwardBackwardBenchmark
{
    private const int Batch = 8, Sequence = 256, Steps = 6;

    public static void Run()
    {
        var config = ModelPresets.Get("bench-12m");
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            manual_seed(0);
            using var model = new LlamaForCausalLM(config, new ModelOptions { ComputeDtype = dtype, Attention = AttentionImplementation.Fused });
            using var ids = randint(config.VocabSize, [Batch, Sequence + 1]);
            using var input = ids.narrow(1, 0, Sequence);
            using var target = ids.narrow(1, 1, Sequence).reshape(-1);
            var times = new List<double>();
            for (var step = 0; step < Steps + 2; step++)
            {
                var watch = Stopwatch.StartNew();
                using (NewDisposeScope())
                {
                    var logits = model.call(input); // (B, T, V)
                    var loss = nn.functional.cross_entropy(logits.view(-1, config.VocabSize), target);
                    loss.backward();
                }
                if (step >= 2) times.Add(watch.Elapsed.TotalSeconds);
                model.zero_grad();
            }
            times.Sort();
            var median = times[times.Count / 2];
            var tokens = Batch * Sequence;
            var n = model.ParameterCount(includeEmbeddings: false) + (long)config.VocabSize * config.HiddenSize; // + output projection
            var attention = 12.0 * config.NumHiddenLayers * config.HiddenSize * Sequence / 2; // causal: half of 12·L·H·T per token
            var flops = (6.0 * n + attention) * tokens;
            var peak = MatmulPeakBenchmark.Peak(dtype);
            JsonLine.Write(new
            {
                bench = "forward-backward",
                model = "bench-12m",
                dtype = dtype == ScalarType.Float32 ? "float32" : "bfloat16",
                batch = Batch,
                sequence = Sequence,
                step_ms = JsonLine.Round(median * 1000, 1),
                best_ms = JsonLine.Round(times[0] * 1000, 1),
                tokens_per_s = JsonLine.Round(tokens / median),
                model_gflops = JsonLine.Round(flops / median / 1e9),
                matmul_peak_gflops = JsonLine.Round(peak),
                mfu = Math.Round(flops / median / 1e9 / peak, 3),
                threads = get_num_threads(),
            });
        }
    }
}
