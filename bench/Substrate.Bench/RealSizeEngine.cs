using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Substrate.Inference.CpuDecode;
using Substrate.Interop.Gguf;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// One engine's run for <see cref="RealSizeBenchmark"/> and <see cref="QuantizedRealSizeBenchmark"/>, in a process of its
/// own: load the model (Substrate: the HF folder through <see cref="ModelFolder.LoadForInference"/>, or a .gguf file through
/// <see cref="GgufCpuDecoder"/>, mapped either way; llama.cpp: the GGUF, mapped), warm up (a 64-token prefill and 4 steps,
/// which also pages the weights in), then the best of $SUBSTRATE_BENCH_RUNS (default 2) runs of: prefill the prompt,
/// greedy-decode the new tokens — or, given DECODE_PROMPT_TOKENS, prefill the prompt (timed) and separately decode the new
/// tokens after the prompt's first DECODE_PROMPT_TOKENS. Prints one JSON line: load seconds, prefill and decode tokens/s,
/// resident memory after the runs (VmRSS) and its peak (VmHWM), both from /proc/self/status.
/// Usage: real-size-engine substrate|llama.cpp MODEL_NAME PATH THREADS PROMPT_TOKENS NEW_TOKENS [DECODE_PROMPT_TOKENS]
/// </summary>
public static class RealSizeEngine
{
    public const string Verb = "real-size-engine";

    private const int WarmUpPrompt = 64, WarmUpSteps = 4;

    /// <summary>Prefill the prompt and leave its last logits; then one step per token, leaving the next logits.</summary>
    private interface IEngine
    {
        ReadOnlySpan<float> Prefill(int[] prompt);
        ReadOnlySpan<float> Step(int token);
    }

    public static int Run(string[] args)
    {
        var (engine, model, path) = (args[0], args[1], args[2]);
        var (threads, promptLength, newTokens) = (int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]));
        int? decodePrompt = args.Length > 6 ? int.Parse(args[6]) : null;
        var runs = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_RUNS"), out var r) ? r : 2;
        var prompt = Enumerable.Range(0, promptLength).Select(i => 3 + (int)((i * 7919L + 13) % 1000)).ToArray(); // ids in [3, 1003)
        var clock = Stopwatch.StartNew();
        var context = Math.Max(promptLength, decodePrompt ?? promptLength) + newTokens;
        using var opened = engine == "substrate" ? OpenSubstrate(path, threads, context) : OpenLlamaCpp(path, threads, context);
        var load = clock.Elapsed.TotalSeconds;
        var loadedRss = Status("VmRSS");
        Generate(opened.Engine, prompt[..WarmUpPrompt], WarmUpSteps + 1);
        CpuDecoderProfile.Reset(); // $SUBSTRATE_CPU_PROFILE=1: the timed runs' batched jobs, printed to stderr at the end
        var (prefill, decode, tokens) = (double.MaxValue, double.MaxValue, Array.Empty<int>());
        for (var run = 0; run < runs; run++)
        {
            var separate = decodePrompt is { } length && length != promptLength; // else one sequence: prefill, then decode
            var (p, d, t) = Generate(opened.Engine, prompt, separate ? 1 : newTokens);
            if (separate) (_, d, t) = Generate(opened.Engine, prompt[..decodePrompt!.Value], newTokens);
            (prefill, decode, tokens) = (Math.Min(prefill, p), Math.Min(decode, d), t);
        }
        JsonLine.Write(new
        {
            benchmark = decodePrompt is null ? "real-size-vs-llamacpp" : "quantized-real-size", engine, model, batch = 1, threads,
            dtype = path.EndsWith(".gguf", StringComparison.Ordinal) ? path[(path.LastIndexOf('-') + 1)..^".gguf".Length] : "bf16",
            prompt_tokens = promptLength, decode_prompt_tokens = decodePrompt ?? promptLength, new_tokens = newTokens, load_s = JsonLine.Round(load, 2),
            prefill_tokens_per_s = JsonLine.Round(promptLength / prefill, 1), decode_tokens_per_s = JsonLine.Round((newTokens - 1) / decode, 2),
            rss_mb = JsonLine.Round(Status("VmRSS") / 1e6), peak_rss_mb = JsonLine.Round(Status("VmHWM") / 1e6),
            rss_file_mb = JsonLine.Round(Status("RssFile") / 1e6), rss_anon_mb = JsonLine.Round(Status("RssAnon") / 1e6),
            rss_after_load_mb = JsonLine.Round(loadedRss / 1e6),
            first_tokens = tokens.Take(8).ToArray(),
        });
        if (CpuDecoderProfile.Enabled && engine == "substrate") Console.Error.WriteLine(CpuDecoderProfile.Report());
        return 0;
    }

    /// <summary>Seconds to prefill (to the first new token), seconds for the other new tokens, the greedy tokens.</summary>
    private static (double Prefill, double Decode, int[] Tokens) Generate(IEngine engine, int[] prompt, int count)
    {
        var clock = Stopwatch.StartNew();
        var tokens = new List<int> { ArgMax(engine.Prefill(prompt)) };
        var prefill = clock.Elapsed.TotalSeconds;
        while (tokens.Count < count) tokens.Add(ArgMax(engine.Step(tokens[^1])));
        return (prefill, clock.Elapsed.TotalSeconds - prefill, tokens.ToArray());
    }

    private sealed record Opened(IEngine Engine, IDisposable Owner) : IDisposable
    {
        public void Dispose() => Owner.Dispose();
    }

    private static Opened OpenSubstrate(string path, int threads, int context)
    {
        if (path.EndsWith(".gguf", StringComparison.Ordinal))
        {
            var mapped = GgufCpuDecoder.Open(path, context, threads);
            return new Opened(new SubstrateEngine(mapped), mapped);
        }
        var dir = path;
        set_num_threads(threads);
        var model = ModelFolder.LoadForInference(dir, new ModelOptions { ComputeDtype = ScalarType.BFloat16 });
        model.eval();
        var decoder = new CpuDecoder(model, context, threads);
        return new Opened(new SubstrateEngine(decoder), new Owners(decoder, model));
    }

    private sealed class SubstrateEngine(CpuDecoder decoder) : IEngine
    {
        private readonly float[] logits = new float[decoder.Config.VocabSize];

        public ReadOnlySpan<float> Prefill(int[] prompt)
        {
            decoder.Reset();
            decoder.Prefill(prompt, logits);
            return logits;
        }

        public ReadOnlySpan<float> Step(int token)
        {
            decoder.Step(token, logits);
            return logits;
        }
    }

    private static Opened OpenLlamaCpp(string path, int threads, int context)
    {
        NativeLibraryConfig.All.WithLogCallback((level, message) => { });
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)context, GpuLayerCount = 0, BatchSize = (uint)context, UBatchSize = (uint)context,
            Threads = threads, BatchThreads = threads, TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        var weights = LLamaWeights.LoadFromFile(parameters);
        var engine = new LlamaCppEngine(weights, parameters);
        return new Opened(engine, new Owners(engine, weights));
    }

    /// <summary>A fresh context per prompt (an empty KV cache), as a new sequence gets.</summary>
    private sealed class LlamaCppEngine(LLamaWeights weights, ModelParams parameters) : IEngine, IDisposable
    {
        private LLamaContext? context;
        private readonly LLamaBatch batch = new();
        private int position;

        public ReadOnlySpan<float> Prefill(int[] prompt)
        {
            context?.Dispose();
            context = weights.CreateContext(parameters);
            batch.Clear();
            for (var i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            position = prompt.Length;
            return Decode();
        }

        public ReadOnlySpan<float> Step(int token)
        {
            batch.Clear();
            batch.Add(token, position++, LLamaSeqId.Zero, true);
            return Decode();
        }

        private ReadOnlySpan<float> Decode()
        {
            var handle = context!.NativeHandle;
            if (handle.Decode(batch) is var result && result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
            return handle.GetLogitsIth(batch.TokenCount - 1);
        }

        public void Dispose() => context?.Dispose();
    }

    private sealed class Owners(params IDisposable[] owned) : IDisposable
    {
        public void Dispose()
        {
            foreach (var o in owned) o.Dispose();
        }
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>A /proc/self/status field in bytes (its kB figure × 1024); 0 where there is no such file.</summary>
    internal static long Status(string field)
    {
        if (!File.Exists("/proc/self/status")) return 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        return 0;
    }
}
