using Microsoft.Extensions.AI;
using Substrate.Inference.Serving;

namespace Substrate.Inference.DotNetAI;

/// <summary>
/// Microsoft.Extensions.AI embeddings over an <see cref="IInferenceEngine"/>, in process: the mean of the final hidden
/// states (after the last norm) over the input's tokens, L2-normalised (so the dot product is the cosine similarity).
/// EmbeddingGenerationOptions.ModelId picks the base or an adapter.
/// </summary>
public sealed class SubstrateEmbeddingGenerator(IInferenceEngine engine, string? model = null) : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly string defaultModel = model ?? engine.BaseModel;

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var modelId = options?.ModelId ?? defaultModel;
        var result = await engine.EmbedAsync(modelId, values.ToList(), cancellationToken);
        return new GeneratedEmbeddings<Embedding<float>>(
            result.Vectors.Select(v => new Embedding<float>(v) { ModelId = modelId, CreatedAt = DateTimeOffset.UtcNow }))
        {
            Usage = new UsageDetails { InputTokenCount = result.PromptTokens, TotalTokenCount = result.PromptTokens },
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("substrate", null, defaultModel)
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() { }
}
