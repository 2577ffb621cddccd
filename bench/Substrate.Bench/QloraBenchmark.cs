using System.Diagnostics;
using Substrate.Models;
using Substrate.Nn.Quantized;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using Substrate.Training;
using Substrate.Training.Finetuning;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// qlora: LoRA on a Llama-3.2-1B-shaped base (hidden 2048, ffn 8192, 16 layers, 32/8 heads, tied embeddings; a 16,384-token
/// vocabulary instead of 128,256), random bf16 weights saved as an HF folder, fine-tuned a few steps of short rows on the
/// bundled instruction data — each variant in a fresh process of its own so its peak resident memory (VmHWM) is its own:
/// the bf16 base (base_dtype bfloat16, today's LoRA) and QLoRA on q4_K, nf4 and q8_0 bases (base_quant), all r 8 on every
/// projection, bf16 compute. One JSON line per variant (peak RSS, load and step seconds) and one with the ratios.
/// $SUBSTRATE_BENCH_STEPS (default 3), $SUBSTRATE_BENCH_VARIANTS (comma-separated; default bf16,q4_K,nf4,q8_0; a "+gc" suffix, e.g.
/// nf4+gc, trains with activation checkpointing), $SUBSTRATE_BENCH_DIR (a base folder kept and reused between runs, for probes).
/// </summary>
public static class QloraBenchmark
{
    public const string Verb = "qlora-run";

    static readonly ModelConfig Shape = ModelFamily.Find("llama").Apply(new ModelConfig
    {
        VocabSize = 16384, HiddenSize = 2048, NumHiddenLayers = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_LAYERS"), out var l) ? l : 16, NumAttentionHeads = 32, NumKeyValueHeads = 8, IntermediateSize = 8192,
        MaxPositionEmbeddings = 2048, RopeTheta = 500_000, RmsNormEps = 1e-5, TieWordEmbeddings = true,
    });

    public static void Run()
    {
        var variants = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_VARIANTS")?.Split(',') ?? ["bf16", "q4_K", "nf4", "q8_0"];
        var kept = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_DIR"); // a base folder to reuse (written once) for probes
        var dir = kept ?? Path.Combine(Path.GetTempPath(), "substrate-bench-qlora-" + Guid.NewGuid().ToString("N"));
        try
        {
            if (kept is null) Dequantization();
            if (kept is null || !File.Exists(Path.Combine(dir, "config.json"))) Write(dir);
            var peaks = new Dictionary<string, double>();
            foreach (var variant in variants) peaks[variant] = Child(variant, dir);
            if (peaks.TryGetValue("bf16", out var dense))
                JsonLine.Write(new
                {
                    benchmark = "qlora", summary = true,
                    peak_rss_over_bf16_lora = peaks.Where(p => p.Key != "bf16").ToDictionary(p => p.Key, p => JsonLine.Round(p.Value / dense, 3)),
                    // Like with like: a checkpointed variant over LoRA on the bf16 base with checkpointing too, where it ran.
                    peak_rss_over_bf16_gc_lora = peaks.TryGetValue("bf16+gc", out var denseGc)
                        ? peaks.Where(p => p.Key.EndsWith("+gc", StringComparison.Ordinal) && p.Key != "bf16+gc")
                            .ToDictionary(p => p.Key, p => JsonLine.Round(p.Value / denseGc, 3))
                        : null,
                    load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "",
                    date = DateTime.UtcNow.ToString("yyyy-MM-dd"),
                });
        }
        finally
        {
            try { if (kept is null) Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>What one product costs: dequantizing an (8192, 2048) weight (the 1B shape's gate/up) into bf16, best of 3, beside
    /// the bf16 product it feeds (128 rows · Wᵀ).</summary>
    static void Dequantization()
    {
        manual_seed(7);
        using var dense = randn(8192, 2048) * 0.02;
        using var x = randn(128, 2048).to(ScalarType.BFloat16);
        using var w16 = dense.to(ScalarType.BFloat16);
        double product = Best(() => nn.functional.linear(x, w16).Dispose());
        foreach (var format in new[] { WeightQuantization.Q4_K, WeightQuantization.Nf4, WeightQuantization.Q8_0 })
        {
            var clock = Stopwatch.StartNew();
            using var q = QuantizedWeight.Quantize(dense, format);
            double quantize = clock.Elapsed.TotalMilliseconds;
            JsonLine.Write(new
            {
                benchmark = "qlora", part = "dequantize", format = format.Name(), shape = "8192x2048", quantize_ms = JsonLine.Round(quantize, 1),
                dequantize_bf16_ms = JsonLine.Round(Best(() => q.Dequantize(ScalarType.BFloat16).Dispose()), 1),
                product_128_rows_bf16_ms = JsonLine.Round(product, 1),
            });
        }
    }

    static double Best(Action run) => Enumerable.Range(0, 3).Select(_ => { var c = Stopwatch.StartNew(); run(); return c.Elapsed.TotalMilliseconds; }).Min();

    /// <summary>The base folder (bf16, N(0, 0.02), norms at 1), a BPE tokenizer of 1,024 ids, and the instruction data.</summary>
    static void Write(string dir)
    {
        Console.Error.WriteLine("qlora: writing the 1B-shaped base (bf16, random weights)…");
        Directory.CreateDirectory(dir);
        manual_seed(1234);
        using (var model = new LlamaForCausalLM(Shape, new ModelOptions { WeightDtype = ScalarType.BFloat16, InitializeWeights = false }))
        {
            using (no_grad())
                foreach (var (name, p) in model.named_parameters())
                    if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(1); else p.normal_(0, 0.02);
            ModelFolder.Save(model, dir, ScalarType.BFloat16, maxShardBytes: 512L << 20);
        }
        HfTokenizerJsonWriter.Save(BpeTrainer.Train(DecodeVsLlamaCppBenchmark.CorpusSample(), new BpeTrainerOptions { VocabSize = 1024 }), dir);
    }

    /// <summary>One variant in a fresh process of this program; forwards its JSON line and returns its peak RSS (MB).</summary>
    static double Child(string variant, string dir)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(QloraBenchmark).Assembly.Location);
        foreach (var a in new[] { Verb, variant, dir }) start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        var line = child.StandardOutput.ReadToEnd().Trim();
        child.WaitForExit();
        if (child.ExitCode != 0 || line.Length == 0) throw new InvalidOperationException($"qlora {variant} run failed (exit {child.ExitCode})");
        Console.WriteLine(line);
        return System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("peak_rss_mb").GetDouble();
    }

    /// <summary>The child: fine-tunes <c>args[0]</c> (bf16 or a base_quant) on the folder <c>args[1]</c>; prints one JSON line.</summary>
    public static int RunChild(string[] args)
    {
        var (variant, dir) = (args[0], args[1]);
        bool checkpointing = variant.EndsWith("+gc", StringComparison.Ordinal); // "nf4+gc": with activation checkpointing
        var baseName = checkpointing ? variant[..^3] : variant;
        var steps = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_STEPS"), out var s) ? s : 3;
        var data = Path.Combine(AppContext.BaseDirectory, "data", "instructions", "train.jsonl.gz");
        if (!File.Exists(data)) data = Path.GetFullPath(Path.Combine("data", "instructions", "train.jsonl.gz"));
        var config = new FinetuneConfig
        {
            Method = "lora", LoraR = 8, LoraAlpha = 16, TargetModules = "all-linear", BatchSize = 2, SeqLen = 64, MaxSteps = steps,
            EvalEvery = 0, CheckpointEvery = 0, ValFraction = 0, Dtype = ComputePrecision.BFloat16,
            BaseDtype = baseName == "bf16" ? ComputePrecision.BFloat16 : ComputePrecision.Float32, BaseQuant = baseName == "bf16" ? null : baseName,
            GradientCheckpointing = checkpointing,
        };
        var output = Path.Combine(dir, "run-" + variant);
        if (Directory.Exists(output)) Directory.Delete(output, recursive: true); // a kept base folder holds the last probe's run
        var clock = Stopwatch.StartNew();
        using var sampler = MemoryTrace.Sample(clock);
        double loadSeconds = 0;
        var result = Finetuner.Run(new FinetuneOptions { ModelDirectory = dir, DataPath = data, OutputDirectory = output, Config = config },
            new SyncProgress(p =>
            {
                if (p.Event == TrainEvent.Started) loadSeconds = clock.Elapsed.TotalSeconds;
                Trace($"{p.Event} {p.Step}");
            }));
        JsonLine.Write(new
        {
            benchmark = "qlora", variant, model = "llama-3.2-1b-shape (vocab 16384)", steps = result.Step, batch = $"{config.BatchSize}x{config.SeqLen}",
            peak_rss_mb = JsonLine.Round(RealSizeEngine.Status("VmHWM") / 1e6), load_s = JsonLine.Round(loadSeconds, 1),
            step_s = JsonLine.Round(result.MeanStepSeconds, 2), train_loss = JsonLine.Round(result.FinalTrainLoss ?? double.NaN, 3),
            load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "",
        });
        return 0;
    }

    /// <summary>With $SUBSTRATE_BENCH_TRACE set: resident and peak memory at <paramref name="phase"/>, with malloc's own counts, on stderr.</summary>
    public static void Trace(string phase)
    {
        if (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TRACE") is null) return;
        Console.Error.WriteLine($"qlora trace {phase}: {MemoryTrace.Line()}");
    }

    sealed class SyncProgress(Action<TrainProgress> report) : IProgress<TrainProgress>
    {
        public void Report(TrainProgress value) => report(value);
    }
}
