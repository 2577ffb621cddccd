using Substrate.Inference;
using Substrate.Inference.Serving;

namespace Substrate.Interop.Gguf;

/// <summary>
/// A GGUF file served with continuous batching (<c>substrate serve --model x.gguf</c>): the CPU decoder over its mapped
/// blocks with one KV-cache slot per batch row (<see cref="CpuDecoderBatchModel"/>: a step is one pass over the weights for
/// all active sequences), the tokenizer and chat template the file carries, Hugging Face's decoding defaults. No LoRA
/// adapters and no embeddings on a file (both need the TorchSharp model: import the file into a folder).
/// </summary>
public static class GgufInferenceEngine
{
    public static InferenceEngine Open(string path, string baseModel, BatchSchedulerOptions? options = null, int? threads = null)
    {
        options ??= new BatchSchedulerOptions();
        if (options.MaxBatch < 1 || options.QueueCapacity < 1) throw new ArgumentException("MaxBatch and QueueCapacity must be ≥ 1");
        using var reader = new GgufReader(path);
        var (tokenizer, tokenizerConfig) = GgufGenerator.ReadTokenizer(reader);
        var context = options.ContextFor(GgufImporter.ReadConfig(reader));
        var model = new CpuDecoderBatchModel(GgufGenerator.OpenDecoder(reader, tokenizer, context, threads, options.MaxBatch));
        try
        {
            return new InferenceEngine(model, tokenizer, tokenizerConfig, baseModel, options);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
