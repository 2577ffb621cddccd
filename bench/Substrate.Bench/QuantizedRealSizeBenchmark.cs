using Substrate.Interop.Gguf;
using Substrate.Nn.Ggml;

namespace Substrate.Bench;

/// <summary>
/// quantized-real-size: the random-weight Qwen2.5-0.5B- and Llama-3.2-1B-shaped models of <see cref="RealSizeBenchmark"/>
/// (the real shapes and vocabularies; Llama's without its llama3 rope scaling, which the GGUF importer cannot read yet) quantized by <c>substrate quantize</c> to Q8_0, Q4_K_M and Q6_K; on each file,
/// Substrate's CPU decoder (<see cref="GgufCpuDecoder"/>: the blocks in place) and llama.cpp (LLamaSharp 0.30.0), each in a
/// fresh process (<see cref="RealSizeEngine"/>), on 2 threads and on 1: prefill tokens/s of a 512-token prompt (whatever
/// prefill the decoder has), decode tokens/s at batch 1 after a 128-token prompt, resident memory. One JSON line per
/// engine run, and one comparing the two engines per model, type and thread count (with the load average).
/// $SUBSTRATE_BENCH_MODELS (default both), $SUBSTRATE_BENCH_TYPES (default q8_0,q4_K_M,q6_K), $SUBSTRATE_BENCH_THREAD_COUNTS
/// (default 2,1), $SUBSTRATE_BENCH_PROMPT (512), $SUBSTRATE_BENCH_DECODE_PROMPT (128), $SUBSTRATE_BENCH_TOKENS (32),
/// $SUBSTRATE_BENCH_RUNS (best of, default 2), $SUBSTRATE_BENCH_FILES (a folder that keeps the model and its quantized files
/// between runs, reusing those already there; default a temp folder, deleted).
/// </summary>
public static class QuantizedRealSizeBenchmark
{
    public static void Run()
    {
        var (promptLength, decodePrompt) = (RealSizeBenchmark.Setting("SUBSTRATE_BENCH_PROMPT", 512), RealSizeBenchmark.Setting("SUBSTRATE_BENCH_DECODE_PROMPT", 128));
        var newTokens = RealSizeBenchmark.Setting("SUBSTRATE_BENCH_TOKENS", 32);
        var names = List("SUBSTRATE_BENCH_MODELS", string.Join(",", RealSizeBenchmark.Shapes.Keys));
        var types = List("SUBSTRATE_BENCH_TYPES", "q8_0,q4_K_M,q6_K").Select(GgmlTypes.ParseFileType).ToArray();
        var threadCounts = List("SUBSTRATE_BENCH_THREAD_COUNTS", "2,1").Select(int.Parse).ToArray();
        foreach (var name in names)
        {
            var kept = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_FILES") is { Length: > 0 } folder ? Path.Combine(folder, name) : null;
            var dir = kept ?? Path.Combine(Path.GetTempPath(), "substrate-bench-qreal-" + Guid.NewGuid().ToString("N"));
            try
            {
                if (kept is null || !File.Exists(Path.Combine(dir, "config.json")))
                    RealSizeBenchmark.Write(name, RealSizeBenchmark.Shapes[name], dir, folderOnly: true); // Llama 3.2's llama3 scaling as rope_freqs
                foreach (var type in types)
                {
                    var file = Path.Combine(dir, $"{name}-{GgmlTypes.Name(type)}.gguf");
                    if (kept is null || !File.Exists(file))
                    {
                        Console.Error.WriteLine($"quantized-real-size: quantizing {name} to {GgmlTypes.Name(type)}…");
                        GgufQuantizer.Quantize(dir, file, type);
                    }
                    foreach (var threads in threadCounts)
                    {
                        var ours = RealSizeBenchmark.Child("substrate", name, file, threads, promptLength, newTokens, decodePrompt);
                        var theirs = RealSizeBenchmark.Child("llama.cpp", name, file, threads, promptLength, newTokens, decodePrompt);
                        JsonLine.Write(new
                        {
                            benchmark = "quantized-real-size", summary = true, model = name, type = GgmlTypes.Name(type), threads,
                            file_mb = JsonLine.Round(new FileInfo(file).Length / 1e6),
                            prefill_ratio = JsonLine.Round(ours.Prefill / theirs.Prefill, 2), decode_ratio = JsonLine.Round(ours.Decode / theirs.Decode, 2),
                            rss_ratio = JsonLine.Round(ours.Rss / theirs.Rss, 2), substrate_rss_over_file = JsonLine.Round(ours.Rss * 1e6 / new FileInfo(file).Length, 2),
                            load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "",
                            date = DateTime.UtcNow.ToString("yyyy-MM-dd"),
                        });
                    }
                    if (kept is null) File.Delete(file);
                }
            }
            finally
            {
                if (kept is null)
                    try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
        }
    }

    private static string[] List(string variable, string fallback) =>
        (Environment.GetEnvironmentVariable(variable) ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
