using Microsoft.Extensions.AI;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;
using Substrate.Retrieval.Embeddings;
using Substrate.Retrieval.Store;

namespace Substrate.Cli.Verbs;

/// <summary>
/// The embedders <c>rag</c> runs: "minilm" (all-MiniLM-L6-v2 on ONNX Runtime) or a Substrate model folder (mean of its
/// final hidden states, <see cref="SubstrateEmbeddingGenerator"/>), recorded in the store as the model's full path, so a
/// search finds the embedder its store was built with. Itself a generator that, disposed, disposes the model it runs on
/// (so an agent's <c>search:</c> tool can own it).
/// </summary>
public sealed class RagEmbedder(IEmbeddingGenerator<string, Embedding<float>> generator, IDisposable? owner)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(generator)
{
    public const string MiniLm = "minilm";

    public IEmbeddingGenerator<string, Embedding<float>> Generator => InnerGenerator;

    public static RagEmbedder Open(string spec)
    {
        if (spec.Equals(MiniLm, StringComparison.OrdinalIgnoreCase) || spec == MiniLmEmbeddingGenerator.ModelId)
            return new RagEmbedder(new MiniLmEmbeddingGenerator(), null);
        if (!Directory.Exists(spec)) throw new DirectoryNotFoundException($"--embedder must be '{MiniLm}' or a model folder; not found: {spec}");
        var engine = InferenceEngine.Load(spec, Path.GetFullPath(spec));
        return new RagEmbedder(new SubstrateEmbeddingGenerator(engine), engine);
    }

    /// <summary>The embedder a store's vectors were made with (or the one asked for); null for a store without vectors.</summary>
    public static RagEmbedder? ForStore(ChunkStore store, string? spec) =>
        spec is not null ? Open(spec) : store.Embedding is { } embedding ? Open(embedding.Model) : null;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) owner?.Dispose();
    }
}
