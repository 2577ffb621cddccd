using System.Diagnostics;
using System.Text.Json;
using Substrate.Models;
using Substrate.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// <c>train</c>: training throughput of bench-12m at batch 8 × 256 with AdamW — bf16 mixed precision
/// and fp32 for reference — as tokens/s and MFU against this machine's measured matmul peak of the
/// same dtype, plus resident memory after 100 steps (and after 1,000 with SUBSTRATE_BENCH_LONG=1), and the step's
/// matrix products timed alone (<see cref="TrainMatmulFloor"/>).
/// SUBSTRATE_BENCH_PROFILE=1 prints the forward / loss / backward / optimizer split instead.
/// Batches are random token ids (the data pipeline is not what is measured).
/// </summary>
public static class TrainBenchmark
{
    const int Batch = 8, SeqLen = 256;

    public static void Run()
    {
        // One thread per core; SUBSTRATE_BENCH_THREADS=1 gives a figure that other processes' load distorts less.
        int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_THREADS"), out var threads);
        Substrate.Nn.ProcessRuntime.Configure(new Substrate.Nn.RuntimeSettings(Math.Max(threads, 0)));
        bool longRun = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_LONG") == "1";
        var config = ModelPresets.Get("bench-12m");
        Console.Error.WriteLine("train: measuring matmul peaks (2048², bf16 and fp32)…");
        double peakBf16 = MatmulPeak.Measure(ScalarType.BFloat16, seconds: 2), peakFp32 = MatmulPeak.Measure(ScalarType.Float32, seconds: 2);
        Print(new { bench = "matmul_peak", n = 2048, bf16_gflops = peakBf16 / 1e9, fp32_gflops = peakFp32 / 1e9, threads = torch.get_num_threads(), loadavg_1m = LoadAverage() });

        if (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_PROFILE") == "1")
        {
            TrainProfile.Run(config, ScalarType.BFloat16, Batch, SeqLen);
            TrainProfile.Run(config, ScalarType.Float32, Batch, SeqLen);
            return;
        }
        Measure(config, ScalarType.BFloat16, peakBf16, warmup: 3, timed: 20, memorySteps: longRun ? [100, 1000] : [100]);
        Print(TrainMatmulFloor.Measure(config, ScalarType.BFloat16, Batch, SeqLen)); // how much of that step the products alone take
        // The same step with libtorch compositions only (ModelOptions.FusedKernels off): what the kernels gain, measured alike.
        Measure(config, ScalarType.BFloat16, peakBf16, warmup: 3, timed: 10, memorySteps: [], fusedKernels: false);
        Measure(config, ScalarType.Float32, peakFp32, warmup: 2, timed: 8, memorySteps: []);
    }

    static void Measure(ModelConfig config, ScalarType dtype, double peak, int warmup, int timed, int[] memorySteps, bool fusedKernels = true)
    {
        string name = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32";
        manual_seed(0);
        using var model = new LlamaForCausalLM(config, new ModelOptions { ComputeDtype = dtype, Attention = AttentionImplementation.Eager, FusedKernels = fusedKernels });
        model.train();
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
        using var step = new TrainStep(model, optimizer, Batch, SeqLen, gradAccumSteps: 1, gradClip: 1.0);
        var random = new Random(0);
        void Fill(int micro, Span<long> x, Span<long> y)
        {
            for (int i = 0; i < x.Length; i++) { x[i] = random.Next(config.VocabSize); y[i] = random.Next(config.VocabSize); }
        }

        int done = 0;
        for (; done < warmup; done++) step.Run(1e-4, Fill);
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < timed; i++, done++) step.Run(1e-4, Fill);
        double seconds = clock.Elapsed.TotalSeconds;
        process.Refresh();
        double cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        double tokensPerSecond = (double)timed * Batch * SeqLen / seconds;
        double flopsPerToken = ModelFlops.TrainingFlopsPerToken(config, SeqLen);

        var memory = new Dictionary<string, double>();
        foreach (var target in memorySteps)
        {
            Console.Error.WriteLine($"train: {name}: running to step {target} for resident memory…");
            for (; done < target; done++) step.Run(1e-4, Fill);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            memory[$"rss_mb_step_{target}"] = Process.GetCurrentProcess().WorkingSet64 / 1048576.0;
        }

        Print(new Dictionary<string, object>
        {
            ["bench"] = "train",
            ["model"] = "bench-12m",
            ["dtype"] = name,
            ["fused_kernels"] = fusedKernels,
            ["batch"] = Batch,
            ["seq_len"] = SeqLen,
            ["params"] = model.ParameterCount(),
            ["flops_per_token"] = flopsPerToken,
            ["timed_steps"] = timed,
            ["step_ms"] = 1000 * seconds / timed,
            // Process CPU time per step: less distorted by other processes than wall time. On a quiet
            // machine cpu_ms_per_step ≈ threads × step_ms; tokens_per_s_from_cpu estimates that machine.
            ["cpu_ms_per_step"] = 1000 * cpuSeconds / timed,
            ["tokens_per_s_from_cpu"] = (double)timed * Batch * SeqLen * torch.get_num_threads() / cpuSeconds,
            ["tokens_per_s"] = tokensPerSecond,
            ["mfu"] = tokensPerSecond * flopsPerToken / peak,
            ["peak_gflops"] = peak / 1e9,
            ["threads"] = torch.get_num_threads(),
            ["loadavg_1m"] = LoadAverage(), // other processes on the machine distort every figure above
        }.Concat(memory.Select(kv => KeyValuePair.Create(kv.Key, (object)kv.Value))).ToDictionary());
    }

    /// <summary>The 1-minute load average (Linux), or -1.</summary>
    public static double LoadAverage() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var l) ? l : -1;

    static void Print(object value) => Console.WriteLine(JsonSerializer.Serialize(value));
}
