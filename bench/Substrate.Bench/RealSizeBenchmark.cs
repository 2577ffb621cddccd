using Substrate.Nn.Ggml;
using System.Diagnostics;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// real-size-vs-llamacpp: random bf16 weights shaped exactly like Qwen2.5-0.5B and Llama-3.2-1B, saved as a sharded HF
/// folder and exported to a GGUF of the same weights — f16 by default ($SUBSTRATE_BENCH_GGUF=bf16 for bf16: LLamaSharp
/// 0.30.0's CPU build decodes bf16 at a tenth of its f16 speed here, 0.83 vs ~8 tokens/s on the 0.5B shape); then each engine runs in a fresh process of its own
/// (<see cref="RealSizeEngine"/>) so its load time and resident memory are its own: load, prefill of a 512-token prompt,
/// greedy decode of 64 tokens at batch 1, same threads. One JSON line per engine and model, and one comparing them.
/// $SUBSTRATE_BENCH_THREADS (default 2), $SUBSTRATE_BENCH_PROMPT (512), $SUBSTRATE_BENCH_TOKENS (64),
/// $SUBSTRATE_BENCH_MODELS (comma-separated names; default both), $SUBSTRATE_BENCH_ENGINES=substrate (Substrate alone: no GGUF,
/// no llama.cpp run, no comparison line).
/// </summary>
public static class RealSizeBenchmark
{
    /// <summary>The two shapes, as their config.json files give them (rope_theta, eps, context included).</summary>
    public static readonly IReadOnlyDictionary<string, ModelConfig> Shapes = new Dictionary<string, ModelConfig>
    {
        ["qwen2.5-0.5b-shape"] = ModelFamily.Find("qwen2").Apply(new ModelConfig
        {
            VocabSize = 151936, HiddenSize = 896, NumHiddenLayers = 24, NumAttentionHeads = 14, NumKeyValueHeads = 2,
            IntermediateSize = 4864, MaxPositionEmbeddings = 32768, RopeTheta = 1_000_000, RmsNormEps = 1e-6, TieWordEmbeddings = true,
        }),
        ["llama-3.2-1b-shape"] = ModelFamily.Find("llama").Apply(new ModelConfig
        {
            VocabSize = 128256, HiddenSize = 2048, NumHiddenLayers = 16, NumAttentionHeads = 32, NumKeyValueHeads = 8,
            IntermediateSize = 8192, MaxPositionEmbeddings = 131072, RopeTheta = 500_000, RmsNormEps = 1e-5, TieWordEmbeddings = true,
            RopeScaling = new RopeScaling
            {
                RopeType = "llama3", Factor = 32, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 8192,
            },
        }),
    };

    public static void Run()
    {
        var threads = Setting("SUBSTRATE_BENCH_THREADS", 2);
        var (promptLength, newTokens) = (Setting("SUBSTRATE_BENCH_PROMPT", 512), Setting("SUBSTRATE_BENCH_TOKENS", 64));
        var names = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_MODELS")?.Split(',') ?? Shapes.Keys.ToArray();
        foreach (var name in names)
        {
            var dir = Path.Combine(Path.GetTempPath(), "substrate-bench-real-" + Guid.NewGuid().ToString("N"));
            try
            {
                var alone = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_ENGINES") == "substrate";
                var gguf = Write(name, Shapes[name], dir, alone);
                var weightBytes = Directory.GetFiles(dir, "*.safetensors").Sum(f => new FileInfo(f).Length);
                var ours = Child("substrate", name, dir, threads, promptLength, newTokens);
                if (alone) continue;
                var theirs = Child("llama.cpp", name, gguf, threads, promptLength, newTokens);
                JsonLine.Write(new
                {
                    benchmark = "real-size-vs-llamacpp", summary = true, model = name, weight_mb = JsonLine.Round(weightBytes / 1e6),
                    prefill_ratio = JsonLine.Round(ours.Prefill / theirs.Prefill, 2), decode_ratio = JsonLine.Round(ours.Decode / theirs.Decode, 2),
                    rss_ratio = JsonLine.Round(ours.Rss / theirs.Rss, 2), peak_rss_ratio = JsonLine.Round(ours.Peak / theirs.Peak, 2),
                    substrate_rss_over_weights = JsonLine.Round(ours.Rss * 1e6 / weightBytes, 2), date = DateTime.UtcNow.ToString("yyyy-MM-dd"),
                });
            }
            finally
            {
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
        }
    }

    /// <summary>The HF folder (bf16, N(0, 0.02) weights, norms at 1, shards of at most 512 MB) and its GGUF (unless
    /// <paramref name="folderOnly"/>); returns the GGUF's path.</summary>
    internal static string Write(string name, ModelConfig config, string dir, bool folderOnly)
    {
        Console.Error.WriteLine($"real-size-vs-llamacpp: writing {name} (bf16, random weights) and its GGUF…");
        Directory.CreateDirectory(dir);
        manual_seed(1234);
        using (var model = new LlamaForCausalLM(config, new ModelOptions { WeightDtype = ScalarType.BFloat16, InitializeWeights = false }))
        {
            using (no_grad())
                foreach (var (parameterName, p) in model.named_parameters())
                    if (parameterName.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(1);
                    else if (parameterName.EndsWith(".bias", StringComparison.Ordinal)) p.normal_(0, 0.1);
                    else p.normal_(0, 0.02);
            ModelFolder.Save(model, dir, ScalarType.BFloat16, maxShardBytes: 512L << 20);
        }
        // A small vocabulary (ids below 1,024; llama.cpp pads the rest) so that llama.cpp accepts the prompt's ids.
        HfTokenizerJsonWriter.Save(BpeTrainer.Train(DecodeVsLlamaCppBenchmark.CorpusSample(), new BpeTrainerOptions { VocabSize = 1024 }), dir);
        if (folderOnly) return dir;
        var type = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_GGUF") == "bf16" ? GgufFileType.BF16 : GgufFileType.F16;
        var gguf = Path.Combine(dir, $"{name}-{type}.gguf".ToLowerInvariant());
        GgufExporter.Export(dir, gguf, type, name);
        return gguf;
    }

    internal sealed record Figures(double Prefill, double Decode, double Rss, double Peak);

    /// <summary>Runs one engine in a fresh process of this program (<see cref="RealSizeEngine"/>, its arguments after the
    /// verb); forwards its JSON line and returns its figures.</summary>
    internal static Figures Child(string engine, string model, string path, int threads, int promptLength, int newTokens,
        int? decodePrompt = null)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(RealSizeBenchmark).Assembly.Location);
        foreach (var a in new[] { RealSizeEngine.Verb, engine, model, path, $"{threads}", $"{promptLength}", $"{newTokens}" }) start.ArgumentList.Add(a);
        if (decodePrompt is { } d) start.ArgumentList.Add($"{d}");
        using var child = Process.Start(start)!;
        var line = child.StandardOutput.ReadToEnd().Trim();
        child.WaitForExit();
        if (child.ExitCode != 0 || line.Length == 0) throw new InvalidOperationException($"{engine} run failed (exit {child.ExitCode})");
        Console.WriteLine(line);
        var json = System.Text.Json.JsonDocument.Parse(line).RootElement;
        return new Figures(json.GetProperty("prefill_tokens_per_s").GetDouble(), json.GetProperty("decode_tokens_per_s").GetDouble(),
            json.GetProperty("rss_mb").GetDouble(), json.GetProperty("peak_rss_mb").GetDouble());
    }

    internal static int Setting(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;
}
