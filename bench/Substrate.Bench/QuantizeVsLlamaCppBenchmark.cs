using Substrate.Nn.Ggml;
using System.Diagnostics;
using System.Text.Json;
using LLama.Native;
using Substrate.Inference;
using Substrate.Interop.Gguf;
using Substrate.IO;
using Substrate.Models;
using Substrate.Tokenizers;

namespace Substrate.Bench;

/// <summary>
/// quantize-vs-llamacpp: a trained model folder ($SUBSTRATE_BENCH_MODEL; K-quants want a hidden size that is a multiple of
/// 256) quantized by Substrate and by llama.cpp's quantizer (LLamaSharp 0.30, one thread, from the same F32 export) into each
/// type of $SUBSTRATE_BENCH_QUANT_TYPES (default q8_0,q6_K,q5_K_M,q4_K_M,q3_K_M,q2_K). Per type one JSON line: file sizes, how
/// many tensors are byte-identical, seconds each quantizer took, the perplexity of both files (each imported into a folder
/// and evaluated by Substrate's <see cref="PerplexityEvaluator"/> on the first $SUBSTRATE_BENCH_EVAL_TOKENS tokens of
/// data/corpus/validation.jsonl.gz, default 65,536) beside the float32 model's, and llama.cpp's greedy decode of our file
/// (tokens/s, and whether its tokens are those it decodes from its own file).
/// </summary>
public static class QuantizeVsLlamaCppBenchmark
{
    public static void Run()
    {
        var model = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_MODEL");
        if (model is null || !File.Exists(Path.Combine(model, "config.json")))
            throw new ArgumentException("quantize-vs-llamacpp: set SUBSTRATE_BENCH_MODEL to a trained model folder");
        var types = (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_QUANT_TYPES") ?? "q8_0,q6_K,q5_K_M,q4_K_M,q3_K_M,q2_K")
            .Split(',').Select(GgmlTypes.ParseFileType).ToArray();
        int evalTokens = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_EVAL_TOKENS"), out var e) ? e : 65_536;
        var dir = Path.Combine(Path.GetTempPath(), "substrate-bench-quantize-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var tokens = ValidationTokens(model, evalTokens);
            var f32 = Path.Combine(dir, "f32.gguf");
            GgufExporter.Export(model, f32, GgufFileType.F32);
            double pplF32;
            using (var baseline = ModelFolder.Load(model)) pplF32 = new PerplexityEvaluator(baseline).Evaluate(tokens).Perplexity;
            Console.Error.WriteLine($"quantize-vs-llamacpp: {tokens.Count:N0} validation tokens, float32 perplexity {pplF32:F3}");
            foreach (var type in types) Compare(model, f32, dir, type, tokens, pplF32);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static void Compare(string model, string f32, string dir, GgufFileType type, List<int> tokens, double pplF32)
    {
        var name = GgmlTypes.Name(type);
        string ours = Path.Combine(dir, $"ours-{name}.gguf"), theirs = Path.Combine(dir, $"llamacpp-{name}.gguf");
        var clock = Stopwatch.StartNew();
        GgufQuantizer.Quantize(model, ours, type);
        double oursSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        QuantizeWithLlamaCpp(f32, theirs, type);
        double theirsSeconds = clock.Elapsed.TotalSeconds;
        var (identical, total, maxDiff) = CompareTensors(ours, theirs);
        double pplOurs = ImportedPerplexity(ours, tokens), pplTheirs = ImportedPerplexity(theirs, tokens);
        var prompt = tokens.Take(16).ToArray();
        int context = Math.Min(256, ModelFolder.ReadConfig(model).MaxPositionEmbeddings);
        var (ourTokens, _, ourDecode) = DecodeVsLlamaCppBenchmark.LlamaCpp(ours, prompt, 64, Environment.ProcessorCount, context);
        var (theirTokens, _, _) = DecodeVsLlamaCppBenchmark.LlamaCpp(theirs, prompt, 64, Environment.ProcessorCount, context);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            benchmark = "quantize-vs-llamacpp", type = name, model = Path.GetFileName(Path.GetFullPath(model).TrimEnd('/')),
            bytes_ours = new FileInfo(ours).Length, bytes_llamacpp = new FileInfo(theirs).Length,
            identical_tensors = identical, tensors = total, max_decoded_difference = maxDiff,
            quantize_s_ours = Math.Round(oursSeconds, 2), quantize_s_llamacpp = Math.Round(theirsSeconds, 2),
            eval_tokens = tokens.Count, perplexity_f32 = Math.Round(pplF32, 4), perplexity_ours = Math.Round(pplOurs, 4),
            perplexity_llamacpp = Math.Round(pplTheirs, 4), ours_over_llamacpp = Math.Round(pplOurs / pplTheirs, 5),
            llamacpp_decodes_ours_tokens_per_s = Math.Round(63 / ourDecode, 1), llamacpp_same_tokens_on_both = ourTokens.SequenceEqual(theirTokens),
        }));
    }

    private static void QuantizeWithLlamaCpp(string input, string output, GgufFileType type)
    {
        DecodeVsLlamaCppBenchmark.EnsureLlamaCppLoaded();
        var parameters = LLamaModelQuantizeParams.Default();
        parameters.ftype = (LLamaFtype)(uint)type; // GgufFileType's values are llama_ftype's
        parameters.nthread = 1;
        if (NativeApi.llama_model_quantize(input, output, ref parameters) != 0) throw new InvalidOperationException($"llama_model_quantize {type} failed");
    }

    /// <summary>Tensors with the same type and bytes in both files, tensors in all, and the largest |decoded difference| of the rest.</summary>
    private static (int Identical, int Total, double MaxDiff) CompareTensors(string a, string b)
    {
        using var ra = new GgufReader(a);
        using var rb = new GgufReader(b);
        int identical = 0;
        double maxDiff = 0;
        foreach (var ta in ra.Tensors)
        {
            var tb = rb.Tensor(ta.Name);
            if (ta.Type == tb.Type && ra.ReadBytes(ta).AsSpan().SequenceEqual(rb.ReadBytes(tb))) { identical++; continue; }
            maxDiff = Math.Max(maxDiff, ra.ReadFloats(ta).Zip(rb.ReadFloats(tb)).Max(p => (double)Math.Abs(p.First - p.Second)));
        }
        return (identical, ra.Tensors.Count, maxDiff);
    }

    private static double ImportedPerplexity(string gguf, List<int> tokens)
    {
        var folder = Path.ChangeExtension(gguf, null);
        GgufImporter.Import(gguf, folder);
        using var model = ModelFolder.Load(folder);
        return new PerplexityEvaluator(model).Evaluate(tokens).Perplexity;
    }

    /// <summary>data/corpus/validation.jsonl.gz as `eval perplexity` reads text: each document's tokens, then EOS.</summary>
    private static List<int> ValidationTokens(string model, int count)
    {
        var tokenizer = TokenizerLoader.Load(model);
        var tokens = new List<int>();
        foreach (var document in CorpusFiles.ReadDocuments([CorpusPath()]))
        {
            tokens.AddRange(tokenizer.Encode(document));
            if (tokenizer.Special.Eos is int eos) tokens.Add(eos);
            if (tokens.Count >= count) break;
        }
        return tokens.Take(count).ToList();
    }

    private static string CorpusPath()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var path = Path.Combine(d.FullName, "data", "corpus", "validation.jsonl.gz");
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException("data/corpus/validation.jsonl.gz not found above " + AppContext.BaseDirectory);
    }
}
