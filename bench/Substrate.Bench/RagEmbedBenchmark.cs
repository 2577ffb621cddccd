using System.Diagnostics;
using Substrate.IO;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Embeddings;

namespace Substrate.Bench;

/// <summary>
/// Chunk embedding throughput with all-MiniLM-L6-v2 on ONNX Runtime: the corpus validation split (or
/// $SUBSTRATE_BENCH_CORPUS) chunked as <c>rag index</c> chunks it (200 tokens, 32 overlap), the first 512 chunks
/// embedded in batches of 32 on all cores, after one warm-up batch. One JSON line.
/// </summary>
public static class RagEmbedBenchmark
{
    public static void Run()
    {
        var corpus = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_CORPUS") ?? "data/corpus/validation.jsonl.gz";
        using var embedder = new MiniLmEmbeddingGenerator();
        var chunker = new TextChunker(embedder.CountTokens);
        var chunks = CorpusFiles.ReadDocuments([corpus]).SelectMany(d => chunker.Chunk(d, "")).Take(512).Select(c => c.Text).ToList();
        embedder.GenerateAsync(chunks.Take(32)).GetAwaiter().GetResult();
        var clock = Stopwatch.StartNew();
        var result = embedder.GenerateAsync(chunks).GetAwaiter().GetResult();
        double seconds = clock.Elapsed.TotalSeconds;
        JsonLine.Write(new
        {
            benchmark = "rag-embed", model = MiniLmEmbeddingGenerator.ModelId, chunks = chunks.Count,
            tokens = result.Usage?.InputTokenCount, batch = 32, threads = Environment.ProcessorCount,
            chunks_per_s = JsonLine.Round(chunks.Count / seconds), tokens_per_s = JsonLine.Round((result.Usage?.InputTokenCount ?? 0) / seconds, 0),
        });
    }
}
