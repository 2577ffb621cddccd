using System.Diagnostics;
using Substrate.IO;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Embeddings;

namespace Substrate.Bench;

/// <summary>
/// Chunk embedding throughput with all-MiniLM-L6-v2 on ONNX Runtime: the corpus validation split (or
/// $SUBSTRATE_BENCH_CORPUS) chunked as <c>rag index</c> chunks it (200 tokens, 32 overlap), the first 512 chunks
/// embedded in batches of 32 on 1 thread and on all cores, after one warm-up batch. One JSON line each.
/// </summary>
public static class RagEmbedBenchmark
{
    public static void Run()
    {
        var corpus = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_CORPUS") ?? "data/corpus/validation.jsonl.gz";
        var wordPiece = MiniLmEmbeddingGenerator.LoadTokenizer();
        var chunker = new TextChunker(text => wordPiece.Encode(text).Count);
        var chunks = CorpusFiles.ReadDocuments([corpus]).SelectMany(d => chunker.Chunk(d, "")).Take(512).Select(c => c.Text).ToList();
        foreach (var threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            using var embedder = new MiniLmEmbeddingGenerator(threads);
            embedder.GenerateAsync(chunks.Take(32)).GetAwaiter().GetResult();
            var clock = Stopwatch.StartNew();
            var result = embedder.GenerateAsync(chunks).GetAwaiter().GetResult();
            double seconds = clock.Elapsed.TotalSeconds;
            long tokens = result.Usage?.InputTokenCount ?? 0;
            JsonLine.Write(new
            {
                benchmark = "rag-embed", model = MiniLmEmbeddingGenerator.ModelId, chunks = chunks.Count, tokens, batch = 32, threads,
                chunks_per_s = JsonLine.Round(chunks.Count / seconds), tokens_per_s = JsonLine.Round(tokens / seconds, 0),
            });
        }
    }
}
