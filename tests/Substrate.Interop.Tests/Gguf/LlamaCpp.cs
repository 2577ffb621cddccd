using Substrate.Nn.Ggml;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;
using Substrate.Interop.Gguf;
using Substrate.Models;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>llama.cpp (through LLamaSharp's low-level API) on one GGUF file: tokenize, logits, greedy decoding. CPU only.</summary>
internal sealed class LlamaCpp : IDisposable
{
    private static readonly object InitLock = new();
    private static bool initialized;
    private readonly ModelParams parameters;
    private readonly LoraAdapter? lora;

    /// <param name="loraPath">a GGUF LoRA adapter applied (scale 1) to every context</param>
    public LlamaCpp(string path, int contextSize = 128, int threads = 1, string? loraPath = null)
    {
        EnsureLoaded();
        parameters = new ModelParams(path)
        {
            ContextSize = (uint)contextSize, GpuLayerCount = 0, BatchSize = (uint)contextSize, UBatchSize = (uint)contextSize,
            Threads = threads, BatchThreads = threads,
            // llama.cpp keeps the KV cache in F16 by default; F32 keeps the comparison about the weights.
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        Weights = LLamaWeights.LoadFromFile(parameters);
        if (loraPath is not null) lora = Weights.NativeHandle.LoadLoraFromFile(loraPath);
    }

    public LLamaWeights Weights { get; }

    /// <summary>Loads LLamaSharp's native libraries once, with llama.cpp's logging silenced (set before the first native call).</summary>
    public static void EnsureLoaded()
    {
        lock (InitLock)
        {
            if (initialized) return;
            // SUBSTRATE_LLAMA_LOG=1: llama.cpp's own log, appended to $TMPDIR/llama-cpp.log, to see why it refuses a file
            var log = Environment.GetEnvironmentVariable("SUBSTRATE_LLAMA_LOG") == "1" ? Path.Combine(Path.GetTempPath(), "llama-cpp.log") : null;
            NativeLibraryConfig.All.WithLogCallback((level, message) => { if (log is not null) File.AppendAllText(log, message); });
            NativeApi.llama_empty_call();
            initialized = true;
        }
    }

    /// <summary>llama.cpp's quantizer (llama_model_quantize, one thread, no importance matrix) from <paramref name="input"/> to
    /// <paramref name="output"/>; <paramref name="pure"/>: every weight the file type's own type (no mix, no Q6_K head).</summary>
    public static void Quantize(string input, string output, GgufFileType fileType, bool pure = false)
    {
        EnsureLoaded();
        var parameters = LLamaModelQuantizeParams.Default();
        parameters.ftype = (LLamaFtype)(uint)fileType; // GgufFileType's values are llama_ftype's
        parameters.nthread = 1;
        parameters.pure = pure;
        parameters.allow_requantize = true;
        var result = NativeApi.llama_model_quantize(input, output, ref parameters);
        if (result != 0) throw new InvalidOperationException($"llama_model_quantize({fileType}) returned {result}");
    }

    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial = false) =>
        Weights.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8).Select(t => (int)t).ToArray();

    /// <summary>Logits (T, V) for all positions of one sequence decoded as one batch.</summary>
    public float[][] Logits(int[] ids)
    {
        using var context = CreateContext();
        var batch = new LLamaBatch();
        for (int i = 0; i < ids.Length; i++) batch.Add(ids[i], i, LLamaSeqId.Zero, true);
        var result = context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
        return Enumerable.Range(0, ids.Length).Select(i => context.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
    }

    /// <summary>Logits (T, V) of one sequence decoded one token per llama_decode (the path of a greedy continuation).</summary>
    public float[][] LogitsOneByOne(int[] ids)
    {
        using var context = CreateContext();
        var batch = new LLamaBatch();
        var rows = new float[ids.Length][];
        for (int i = 0; i < ids.Length; i++)
        {
            batch.Clear();
            batch.Add(ids[i], i, LLamaSeqId.Zero, true);
            Check(context.NativeHandle.Decode(batch));
            rows[i] = context.NativeHandle.GetLogitsIth(0).ToArray();
        }
        return rows;
    }

    /// <summary>Greedy continuation: the prompt as one batch (or, <paramref name="promptOneByOne"/>, one token per decode, as
    /// <see cref="LogitsOneByOne"/>), then one token per decode.</summary>
    public int[] Greedy(int[] prompt, int count, bool promptOneByOne = false)
    {
        using var context = CreateContext();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++)
        {
            if (promptOneByOne) batch.Clear();
            batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            if (promptOneByOne || i == prompt.Length - 1) Check(context.NativeHandle.Decode(batch));
        }
        var result = new List<int>();
        int position = prompt.Length;
        for (int step = 0; step < count; step++)
        {
            var logits = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
            int next = ArgMax(logits);
            result.Add(next);
            batch.Clear();
            batch.Add(next, position++, LLamaSeqId.Zero, true);
            Check(context.NativeHandle.Decode(batch));
        }
        return result.ToArray();
    }

    private LLamaContext CreateContext()
    {
        var context = Weights.CreateContext(parameters);
        if (lora is not null) context.NativeHandle.SetLoraAdapters([(lora, 1f)]);
        return context;
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
    }

    public void Dispose() => Weights.Dispose();
}
