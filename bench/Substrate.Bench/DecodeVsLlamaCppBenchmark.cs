using Substrate.Nn.Ggml;
using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using Substrate.Inference;
using Substrate.Models;
using Substrate.Interop.Gguf;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// decode-vs-llamacpp: greedy decode tokens/s at batch 1 of Substrate (TokenGenerator, KV cache, fp32, through
/// <see cref="CpuDecoder"/>; the TorchSharp path is printed too, as engine "substrate-torch") and of llama.cpp
/// (LLamaSharp 0.30, CPU) on the same seeded bench-12m model exported as an f32 GGUF, same thread count, best of
/// 3 runs each, one JSON line per engine and one comparing Substrate's fast path with llama.cpp (also whether both
/// produced the same tokens, and the weight bandwidth each draws: weight bytes per token × tokens/s).
/// $SUBSTRATE_BENCH_THREADS sets the threads (default: all cores); $SUBSTRATE_BENCH_TOKENS the new tokens (default 128).
/// </summary>
public static class DecodeVsLlamaCppBenchmark
{
    public static void Run()
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_THREADS"), out var t) ? t : Environment.ProcessorCount;
        int newTokens = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TOKENS"), out var n) ? n : 128;
        const int promptLength = 16;
        set_num_threads(threads);

        var dir = Path.Combine(Path.GetTempPath(), "substrate-bench-decode-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            Console.Error.WriteLine("decode-vs-llamacpp: building bench-12m with a 1,024-token BPE vocabulary, exporting f32 GGUF…");
            var config = ModelPresets.Get("bench-12m");
            manual_seed(1234);
            using (var model = new LlamaForCausalLM(config)) ModelFolder.Save(model, dir);
            HfTokenizerJsonWriter.Save(BpeTrainer.Train(CorpusSample(), new BpeTrainerOptions { VocabSize = 1024 }), dir);
            var gguf = Path.Combine(dir, "bench-12m-f32.gguf");
            GgufExporter.Export(dir, gguf, GgufFileType.F32, "bench-12m");

            var prompt = Enumerable.Range(0, promptLength).Select(i => 300 + 7 * i).ToArray();
            using var substrate = ModelFolder.Load(dir);
            var (ourTokens, ourFirst, ourDecode) = Substrate(substrate, prompt, newTokens, DecoderImplementation.Fast);
            var (torchTokens, torchFirst, torchDecode) = Substrate(substrate, prompt, newTokens, DecoderImplementation.Torch);
            var (cppTokens, cppFirst, cppDecode) = LlamaCpp(gguf, prompt, newTokens, threads, config.MaxPositionEmbeddings);

            var common = new { model = "bench-12m", parameters = substrate.ParameterCount(), dtype = "f32", batch = 1, prompt_tokens = promptLength, new_tokens = newTokens, threads };
            var gigabytes = DecodeBenchmark.WeightBytesPerToken(substrate) / 1e9;
            Emit(new { benchmark = "decode-vs-llamacpp", engine = "substrate", decoder = "fast", common.model, common.parameters, common.dtype, common.batch, common.prompt_tokens, common.new_tokens, common.threads,
                first_token_ms = Round(ourFirst * 1e3), decode_tokens_per_s = Round((newTokens - 1) / ourDecode), weight_gb_per_s = Round(gigabytes * (newTokens - 1) / ourDecode) });
            Emit(new { benchmark = "decode-vs-llamacpp", engine = "substrate-torch", decoder = "torch", common.model, common.parameters, common.dtype, common.batch, common.prompt_tokens, common.new_tokens, common.threads,
                first_token_ms = Round(torchFirst * 1e3), decode_tokens_per_s = Round((newTokens - 1) / torchDecode), same_tokens_as_fast = torchTokens.SequenceEqual(ourTokens) });
            Emit(new { benchmark = "decode-vs-llamacpp", engine = "llama.cpp", common.model, common.parameters, common.dtype, common.batch, common.prompt_tokens, common.new_tokens, common.threads,
                first_token_ms = Round(cppFirst * 1e3), decode_tokens_per_s = Round((newTokens - 1) / cppDecode), weight_gb_per_s = Round(gigabytes * (newTokens - 1) / cppDecode) });
            Emit(new { benchmark = "decode-vs-llamacpp", summary = true, substrate_over_llamacpp = Round(cppDecode / ourDecode),
                same_tokens = ourTokens.SequenceEqual(cppTokens), first_divergence = FirstDifference(ourTokens, cppTokens), machine = Environment.ProcessorCount + " cores" });
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Greedy tokens, seconds to the first new token (prefill), seconds for the remaining tokens.</summary>
    private static (int[] Tokens, double First, double Decode) Substrate(LlamaForCausalLM model, int[] prompt, int count, DecoderImplementation decoder)
    {
        var generator = new TokenGenerator(model);
        var options = new GenerationOptions { MaxTokens = count, Temperature = 0, Decoder = decoder };
        generator.Generate(prompt, options with { MaxTokens = 8 }).ToArray(); // warm-up
        (int[], double, double) best = ([], 0, double.MaxValue);
        for (int run = 0; run < Runs; run++)
        {
            var clock = Stopwatch.StartNew();
            double first = 0;
            var tokens = new List<int>();
            foreach (var token in generator.Generate(prompt, options))
            {
                if (tokens.Count == 0) first = clock.Elapsed.TotalSeconds;
                tokens.Add(token);
            }
            var decode = clock.Elapsed.TotalSeconds - first;
            if (decode < best.Item3) best = (tokens.ToArray(), first, decode);
        }
        return best;
    }

    /// <summary>Each engine decodes this many times; the fastest run counts (the machine may be shared).</summary>
    private const int Runs = 3;

    private static readonly Lazy<bool> Loaded = new(() =>
    {
        NativeLibraryConfig.All.WithLogCallback((level, message) => { });
        NativeApi.llama_empty_call();
        return true;
    });

    /// <summary>Loads llama.cpp's native libraries once, its logging silenced (which must be set before the first native call).</summary>
    internal static void EnsureLlamaCppLoaded() => _ = Loaded.Value;

    /// <summary>llama.cpp greedy decoding (best of <see cref="Runs"/>): tokens, seconds to the first, seconds for the rest.</summary>
    /// <param name="whileLoaded">called after the runs, the model still loaded (to read memory)</param>
    internal static (int[] Tokens, double First, double Decode) LlamaCpp(string path, int[] prompt, int count, int threads, int context,
        Action? whileLoaded = null)
    {
        EnsureLlamaCppLoaded();
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)context, GpuLayerCount = 0, BatchSize = (uint)context, UBatchSize = (uint)context,
            Threads = threads, BatchThreads = threads,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        Generate(8); // warm-up
        (int[], double, double) best = ([], 0, double.MaxValue);
        for (int run = 0; run < Runs; run++)
        {
            var result = Generate(count);
            if (result.Item3 < best.Item3) best = result;
        }
        whileLoaded?.Invoke();
        return best;

        (int[], double, double) Generate(int n)
        {
            using var context = weights.CreateContext(parameters);
            var handle = context.NativeHandle;
            var batch = new LLamaBatch();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            Check(handle.Decode(batch));
            var tokens = new List<int>();
            double first = 0;
            for (int step = 0; step < n; step++)
            {
                int next = ArgMax(handle.GetLogitsIth(batch.TokenCount - 1));
                tokens.Add(next);
                if (step == 0) first = clock.Elapsed.TotalSeconds;
                if (step == n - 1) break;
                batch.Clear();
                batch.Add(next, prompt.Length + step, LLamaSeqId.Zero, true);
                Check(handle.Decode(batch));
            }
            return (tokens.ToArray(), first, clock.Elapsed.TotalSeconds - first);
        }
    }

    internal static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
    }

    private static int? FirstDifference(int[] a, int[] b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? null : Math.Min(a.Length, b.Length);
    }

    // ~200 KB of the bundled corpus (enough for a 1,024-token vocabulary), else generated text.
    internal static IEnumerable<string> CorpusSample()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var path = Path.Combine(d.FullName, "data", "corpus", "validation.jsonl.gz");
            if (!File.Exists(path)) continue;
            using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
            var documents = new List<string>();
            long chars = 0;
            while (chars < 200_000 && reader.ReadLine() is { } line)
            {
                var text = JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!;
                documents.Add(text);
                chars += text.Length;
            }
            return documents;
        }
        return Enumerable.Range(0, 2000).Select(i => $"the quick brown fox {i} jumps over the lazy dog number {i * 7}.");
    }

    private static double Round(double x) => Math.Round(x, 2);

    internal static void Emit(object record) => Console.WriteLine(JsonSerializer.Serialize(record));
}
