using Microsoft.Extensions.AI;

namespace Substrate.Retrieval.Tests;

/// <summary>A tiny deterministic embedder for tests: lower-cased words hashed into 16 buckets, L2-normalised.</summary>
public sealed class WordHashEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    public const int Dimensions = 16;
    public int Calls { get; private set; }

    public static float[] Embed(string text)
    {
        var v = new float[Dimensions];
        foreach (var word in text.ToLowerInvariant().Split([' ', '\n', '.', ',', '?'], StringSplitOptions.RemoveEmptyEntries))
        {
            uint h = 2166136261;
            foreach (var c in word) h = (h ^ c) * 16777619;
            v[h % Dimensions] += 1;
        }
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return norm == 0 ? v : v.Select(x => x / norm).ToArray();
    }

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        Calls++;
        return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(Embed(v)) { ModelId = "word-hash" })));
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("test", null, "word-hash", Dimensions) : null;

    public void Dispose() { }
}
