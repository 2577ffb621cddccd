using Substrate.Training;
using System.Diagnostics;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// The model's share of a training step: forward, cross-entropy, backward for bench-12m at batch
/// 8 × 256, fp32 and bf16 mixed precision, eager and fused attention, on one thread and on all of
/// libtorch's threads; no optimizer. Reports the median and best wall time per step, the process CPU
/// time per step (on one thread: the step's cost free of other processes' load), tokens/s, and model
/// FLOP utilization against the matmul peak measured just before (FLOPs per token as pretraining
/// counts them: <see cref="ModelFlops.TrainingFlopsPerToken"/>).
/// </summary>
internal static class ForwardBackwardBenchmark
{
    private const int Batch = 8, Sequence = 256, Steps = 6, Warmup = 2;

    public static void Run()
    {
        var config = ModelPresets.Get("bench-12m");
        var allThreads = get_num_threads();
        var process = Process.GetCurrentProcess();
        foreach (var threads in new[] { 1, allThreads }.Distinct())
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        foreach (var attention in new[] { AttentionImplementation.Eager, AttentionImplementation.Fused })
        {
            set_num_threads(threads);
            manual_seed(0);
            using var model = new LlamaForCausalLM(config, new ModelOptions { ComputeDtype = dtype, Attention = attention });
            using var ids = randint(config.VocabSize, [Batch, Sequence + 1]);
            using var input = ids.narrow(1, 0, Sequence);
            using var target = ids.narrow(1, 1, Sequence).reshape(-1);
            var wall = new List<double>();
            var cpu = new List<double>();
            for (var step = 0; step < Steps + Warmup; step++)
            {
                process.Refresh();
                var cpuStart = process.TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                using (NewDisposeScope())
                {
                    var logits = model.call(input); // (B, T, V)
                    var loss = nn.functional.cross_entropy(logits.view(-1, config.VocabSize), target);
                    loss.backward();
                }
                model.zero_grad();
                if (step < Warmup) continue;
                wall.Add(watch.Elapsed.TotalSeconds);
                process.Refresh();
                cpu.Add((process.TotalProcessorTime - cpuStart).TotalSeconds);
            }
            wall.Sort();
            cpu.Sort();
            var median = wall[wall.Count / 2];
            var tokens = Batch * Sequence;
            var flops = ModelFlops.TrainingFlopsPerToken(config, Sequence) * tokens; // the formula pretraining's MFU uses
            var peak = MatmulPeakBenchmark.Peak(dtype);
            JsonLine.Write(new
            {
                bench = "forward-backward",
                model = "bench-12m",
                dtype = dtype == ScalarType.Float32 ? "float32" : "bfloat16",
                attention = attention.ToString().ToLowerInvariant(),
                batch = Batch,
                sequence = Sequence,
                threads,
                step_ms = JsonLine.Round(median * 1000, 1),
                best_ms = JsonLine.Round(wall[0] * 1000, 1),
                cpu_ms = JsonLine.Round(cpu[cpu.Count / 2] * 1000, 1),
                tokens_per_s = JsonLine.Round(tokens / median),
                best_tokens_per_s = JsonLine.Round(tokens / wall[0]),
                matmul_peak_gflops = JsonLine.Round(peak),
                mfu = Math.Round(flops / median / 1e9 / peak, 3),
            });
        }
        set_num_threads(allThreads);
    }
}
