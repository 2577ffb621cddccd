using Substrate.Nn.Ggml;
using System.Diagnostics;
using Substrate.Inference.CpuDecode;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// quantized-decode: batch-1 greedy decode tokens/s after a 128-token prompt of Substrate's CPU decoder over a quantized
/// GGUF file (<see cref="GgufCpuDecoder"/>: the blocks multiplied in place) and of llama.cpp (LLamaSharp 0.30) on the
/// same file, same threads, best of 2 runs each, one JSON line per type and engine. RSS is the process's resident memory
/// added while each engine holds the model (the mapped file's touched pages included). A seeded random model of
/// $SUBSTRATE_BENCH_SHAPE (hidden,intermediate,layers,heads,kv_heads; default 1024,2816,8,16,4), vocabulary 1,024.
/// $SUBSTRATE_BENCH_THREADS sets the threads (default 2); $SUBSTRATE_BENCH_TOKENS the new tokens (default 64).
/// </summary>
public static class QuantizedDecodeBenchmark
{
    private const int PromptLength = 128, Runs = 2;

    public static void Run()
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_THREADS"), out var t) ? t : 2;
        int newTokens = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TOKENS"), out var n) ? n : 64;
        var shape = (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_SHAPE") ?? "1024,2816,8,16,4").Split(',').Select(int.Parse).ToArray();
        var config = ModelFamily.Qwen2.Apply(new ModelConfig
        {
            VocabSize = 1024, HiddenSize = shape[0], IntermediateSize = shape[1], NumHiddenLayers = shape[2],
            NumAttentionHeads = shape[3], NumKeyValueHeads = shape[4], MaxPositionEmbeddings = 512, TieWordEmbeddings = true,
        });
        set_num_threads(threads);
        var dir = Path.Combine(Path.GetTempPath(), "substrate-bench-qdecode-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            manual_seed(1234);
            using (var model = new LlamaForCausalLM(config)) ModelFolder.Save(model, dir);
            HfTokenizerJsonWriter.Save(BpeTrainer.Train(DecodeVsLlamaCppBenchmark.CorpusSample(), new BpeTrainerOptions { VocabSize = 1024 }), dir);
            var prompt = Enumerable.Range(0, PromptLength).Select(i => 300 + 5 * i % 700).ToArray();
            foreach (var type in new[] { GgufFileType.Q8_0, GgufFileType.Q4_K_M })
            {
                var file = Path.Combine(dir, $"{type}.gguf");
                GgufQuantizer.Quantize(dir, file, type);
                var (ours, ourDecode, ourRss) = Substrate(file, prompt, newTokens, threads);
                GC.Collect();
                var before = Rss();
                long cppRss = 0;
                var (cpp, _, cppDecode) = DecodeVsLlamaCppBenchmark.LlamaCpp(file, prompt, newTokens, threads, PromptLength + newTokens + 8,
                    () => cppRss = Rss() - before);
                var common = new { benchmark = "quantized-decode", type = type.ToString(), shape = string.Join(",", shape), vocab = 1024,
                    file_mb = new FileInfo(file).Length >> 20, prompt_tokens = PromptLength, new_tokens = newTokens, threads };
                DecodeVsLlamaCppBenchmark.Emit(new
                {
                    common, engine = "substrate", decode_tokens_per_s = Math.Round((newTokens - 1) / ourDecode, 1), rss_added_mb = ourRss >> 20,
                });
                DecodeVsLlamaCppBenchmark.Emit(new
                {
                    common, engine = "llama.cpp", decode_tokens_per_s = Math.Round((newTokens - 1) / cppDecode, 1), rss_added_mb = cppRss >> 20,
                    same_tokens = ours.SequenceEqual(cpp),
                });
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Greedy tokens after the prompt (best of <see cref="Runs"/>): tokens, seconds for all but the first, RSS added.</summary>
    private static (int[] Tokens, double Decode, long Rss) Substrate(string file, int[] prompt, int count, int threads)
    {
        GC.Collect();
        var before = Rss();
        using var decoder = GgufCpuDecoder.Open(file, PromptLength + count + 8, threads);
        var logits = new float[decoder.Config.VocabSize];
        (int[], double, long) best = ([], double.MaxValue, 0);
        for (var run = 0; run < Runs; run++)
        {
            decoder.Reset();
            decoder.Prefill(prompt, logits);
            var tokens = new List<int>();
            Stopwatch? clock = null;
            for (var i = 0; i < count; i++)
            {
                tokens.Add(DecodeVsLlamaCppBenchmark.ArgMax(logits));
                if (i == count - 1) break;
                clock ??= Stopwatch.StartNew();
                decoder.Step(tokens[^1], logits);
            }
            if (clock!.Elapsed.TotalSeconds < best.Item2) best = (tokens.ToArray(), clock.Elapsed.TotalSeconds, Rss() - before);
        }
        return best;
    }

    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
