using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Substrate.Inference.CpuDecode;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using Substrate.Nn.Ggml;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// serve-quantized: batched decoding of a Q4_K_M GGUF file, Substrate's CPU decoder (<see cref="CpuDecoder.Forward"/>: one
/// row per stream, each at its own position, one pass over the blocks a step — what <c>serve --model x.gguf</c> steps) against
/// llama.cpp's batched decoding (LLamaSharp 0.30's <c>LLamaBatch</c> with one sequence id per stream, what its
/// <c>BatchedExecutor</c> builds) on the same file, same prompts (32 tokens, distinct per stream), same output length, same
/// threads: aggregate decode tokens/s at 1, 4, 16 and 64 streams (best of 2), and time to first token on a 512-token prompt.
/// A seeded random qwen2-shaped model of $SUBSTRATE_BENCH_SHAPE (hidden,intermediate,layers,heads,kv_heads; default
/// 1024,4864,24,16,2: Qwen2.5-0.5B's depth, ffn and heads with hidden 1024 — 896 is not whole 256-blocks, and the Q5_0/Q8_0
/// llama.cpp falls back to there are not in place in this decoder yet), vocabulary 4,096, tied. $SUBSTRATE_BENCH_THREADS
/// (default 2), $SUBSTRATE_BENCH_TOKENS (new tokens a stream, default 16), $SUBSTRATE_BENCH_STREAMS (default 1,4,16,64).
/// </summary>
public static class ServeQuantizedBenchmark
{
    private const int PromptLength = 32, TtftLength = 512, Runs = 2, Vocab = 4096;

    public static void Run()
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_THREADS"), out var t) ? t : 2;
        int newTokens = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TOKENS"), out var n) ? n : 16;
        var streams = (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_STREAMS") ?? "1,4,16,64").Split(',').Select(int.Parse).ToArray();
        var shape = (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_SHAPE") ?? "1024,4864,24,16,2").Split(',').Select(int.Parse).ToArray();
        var config = ModelFamily.Qwen2.Apply(new ModelConfig
        {
            VocabSize = Vocab, HiddenSize = shape[0], IntermediateSize = shape[1], NumHiddenLayers = shape[2],
            NumAttentionHeads = shape[3], NumKeyValueHeads = shape[4], MaxPositionEmbeddings = 1024, TieWordEmbeddings = true,
        });
        set_num_threads(threads);
        var dir = Path.Combine(Path.GetTempPath(), "substrate-bench-qserve-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            manual_seed(1234);
            using (var model = new LlamaForCausalLM(config)) ModelFolder.Save(model, dir);
            HfTokenizerJsonWriter.Save(BpeTrainer.Train(DecodeVsLlamaCppBenchmark.CorpusSample(), new BpeTrainerOptions { VocabSize = Vocab }), dir);
            var file = Path.Combine(dir, "q4_K_M.gguf");
            GgufQuantizer.Quantize(dir, file, GgufFileType.Q4_K_M);
            var common = new { benchmark = "serve-quantized", type = "Q4_K_M", shape = string.Join(",", shape), vocab = Vocab,
                file_mb = new FileInfo(file).Length >> 20, threads, load = File.ReadAllText("/proc/loadavg").Split(' ')[0] };

            var ttftPrompt = Enumerable.Range(0, TtftLength).Select(i => 7 + 13 * i % (Vocab - 7)).ToArray();
            var ours = Enumerable.Range(0, Runs).Min(_ => SubstrateFirstToken(file, ttftPrompt, threads));
            var (_, cppFirst, _) = DecodeVsLlamaCppBenchmark.LlamaCpp(file, ttftPrompt, 2, threads, TtftLength + 8);
            DecodeVsLlamaCppBenchmark.Emit(new { common, metric = "ttft", prompt_tokens = TtftLength,
                substrate_s = Math.Round(ours, 3), llamacpp_s = Math.Round(cppFirst, 3), ratio = Math.Round(cppFirst / ours, 2) });

            var single = 0.0;
            foreach (var count in streams)
            {
                var prompts = Enumerable.Range(0, count)
                    .Select(s => Enumerable.Range(0, PromptLength).Select(i => 11 + (97 * s + 31 * i) % (Vocab - 11)).ToArray()).ToArray();
                var (ourTokens, ourSeconds) = Best(() => SubstrateStreams(file, prompts, newTokens, threads));
                var (cppTokens, cppSeconds) = Best(() => LlamaCppStreams(file, prompts, newTokens, threads));
                double ourRate = count * (newTokens - 1) / ourSeconds, cppRate = count * (newTokens - 1) / cppSeconds;
                if (count == 1) single = ourRate;
                DecodeVsLlamaCppBenchmark.Emit(new { common, metric = "decode", streams = count, prompt_tokens = PromptLength, new_tokens = newTokens,
                    substrate_tokens_per_s = Math.Round(ourRate, 1), llamacpp_tokens_per_s = Math.Round(cppRate, 1),
                    ratio = Math.Round(ourRate / cppRate, 2), versus_one_stream = single > 0 ? Math.Round(ourRate / single, 2) : (double?)null,
                    same_tokens_streams = Enumerable.Range(0, count).Count(s => ourTokens[s].SequenceEqual(cppTokens[s])) });
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static (int[][] Tokens, double Seconds) Best(Func<(int[][], double)> run) =>
        Enumerable.Range(0, Runs).Select(_ => run()).MinBy(r => r.Item2);

    /// <summary>Seconds from the prompt to its first token (the chunked prefill and the head).</summary>
    private static double SubstrateFirstToken(string file, int[] prompt, int threads)
    {
        using var decoder = GgufCpuDecoder.Open(file, prompt.Length + 8, threads);
        var logits = new float[decoder.Config.VocabSize];
        var clock = Stopwatch.StartNew();
        decoder.Prefill(prompt, logits);
        _ = DecodeVsLlamaCppBenchmark.ArgMax(logits);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Each stream's prompt prefilled into its own slot, then greedy steps of all streams together; the seconds of
    /// the steps after the first token.</summary>
    private static (int[][], double) SubstrateStreams(string file, int[][] prompts, int count, int threads)
    {
        var streams = prompts.Length;
        using var decoder = GgufCpuDecoder.Open(file, PromptLength + count + 8, threads, slots: streams);
        var vocab = decoder.Config.VocabSize;
        var logits = new float[streams * vocab];
        var next = new int[streams];
        var positions = new int[streams];
        var tokens = prompts.Select(_ => new List<int>()).ToArray();
        for (var s = 0; s < streams; s++)
        {
            decoder.Prefill(s, 0, prompts[s], logits.AsSpan(0, vocab));
            (next[s], positions[s]) = (DecodeVsLlamaCppBenchmark.ArgMax(logits.AsSpan(0, vocab)), PromptLength);
        }
        var slots = Enumerable.Range(0, streams).ToArray();
        var clock = Stopwatch.StartNew();
        for (var step = 0; step < count; step++)
        {
            for (var s = 0; s < streams; s++) tokens[s].Add(next[s]);
            if (step == count - 1) break;
            decoder.Forward(next, slots, positions, logits);
            for (var s = 0; s < streams; s++)
            {
                next[s] = DecodeVsLlamaCppBenchmark.ArgMax(logits.AsSpan(s * vocab, vocab));
                positions[s]++;
            }
        }
        return (tokens.Select(l => l.ToArray()).ToArray(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>llama.cpp with one sequence per stream: the prompts in one batch, then one batch of all streams' tokens a step.</summary>
    private static (int[][], double) LlamaCppStreams(string file, int[][] prompts, int count, int threads)
    {
        DecodeVsLlamaCppBenchmark.EnsureLlamaCppLoaded();
        var streams = prompts.Length;
        var perStream = PromptLength + count + 8;
        var parameters = new ModelParams(file)
        {
            ContextSize = (uint)(streams * perStream), GpuLayerCount = 0, BatchSize = (uint)(streams * PromptLength),
            UBatchSize = (uint)Math.Min(512, streams * PromptLength), SeqMax = (uint)streams, Threads = threads, BatchThreads = threads,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        var handle = context.NativeHandle;
        var batch = new LLamaBatch();
        var rowOf = new int[streams]; // each stream's logits row in the batch
        for (var s = 0; s < streams; s++)
            for (var i = 0; i < PromptLength; i++)
            {
                if (i == PromptLength - 1) rowOf[s] = batch.TokenCount;
                batch.Add(prompts[s][i], i, (LLamaSeqId)s, i == PromptLength - 1);
            }
        Check(handle.Decode(batch));
        var tokens = prompts.Select(_ => new List<int>()).ToArray();
        var clock = new Stopwatch();
        for (var step = 0; step < count; step++)
        {
            for (var s = 0; s < streams; s++) tokens[s].Add(DecodeVsLlamaCppBenchmark.ArgMax(handle.GetLogitsIth(rowOf[s])));
            if (step == count - 1) break;
            clock.Start();
            batch.Clear();
            for (var s = 0; s < streams; s++)
            {
                rowOf[s] = batch.TokenCount;
                batch.Add(tokens[s][^1], PromptLength + step, (LLamaSeqId)s, true);
            }
            Check(handle.Decode(batch));
            clock.Stop();
        }
        return (tokens.Select(l => l.ToArray()).ToArray(), clock.Elapsed.TotalSeconds);
    }

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
    }
}
