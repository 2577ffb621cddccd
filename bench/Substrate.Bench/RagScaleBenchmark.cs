using System.Diagnostics;
using Substrate.Retrieval.Store;

namespace Substrate.Bench;

/// <summary>
/// Search latency against store size: stores of 10k and 100k chunks of generated text (~120 words from a Zipf-like
/// 20k-word vocabulary) with random 384-dimensional unit vectors, written 100 chunks a document as <c>rag index</c>
/// writes them; then 200 queries each of exact vector search, BM25 (three words) and hybrid (top 10), after one warm-up
/// query that loads the vector matrix. One JSON line a size: build time, store bytes per chunk, p50/p99 per mode.
/// </summary>
public static class RagScaleBenchmark
{
    const int Dimensions = 384, ChunksPerDocument = 100, Queries = 200, Top = 10;

    public static void Run()
    {
        foreach (var size in new[] { 10_000, 100_000 }) Measure(size);
    }

    static void Measure(int size)
    {
        var random = new Random(size);
        var path = Path.Combine(Path.GetTempPath(), $"substrate-rag-scale-{Environment.ProcessId}-{size}.db");
        var clock = Stopwatch.StartNew();
        using (var store = ChunkStore.Open(path))
        {
            store.UseEmbedding("random-unit", Dimensions);
            for (int d = 0; d < size / ChunksPerDocument; d++)
            {
                var chunks = Enumerable.Range(0, ChunksPerDocument).Select(_ => ("", Text(random, 120))).ToList();
                var vectors = chunks.Select(_ => (ReadOnlyMemory<float>)UnitVector(random)).ToList();
                store.ReplaceDocument($"doc{d:D5}.txt", $"{d}", chunks, vectors);
            }
        }
        double buildSeconds = clock.Elapsed.TotalSeconds;
        long bytes = new[] { "", "-wal", "-shm" }.Select(s => path + s).Where(File.Exists).Sum(f => new FileInfo(f).Length);
        using (var store = ChunkStore.Open(path, create: false))
        {
            var query = UnitVector(random);
            store.SearchHybrid(Text(random, 3), query, Top);   // loads the vector matrix once
            var vector = Time(() => store.SearchVector(UnitVector(random), Top));
            var bm25 = Time(() => store.SearchBm25(Text(random, 3), Top));
            var hybrid = Time(() => store.SearchHybrid(Text(random, 3), UnitVector(random), Top));
            JsonLine.Write(new
            {
                benchmark = "rag-scale", chunks = size, dimensions = Dimensions, build_s = JsonLine.Round(buildSeconds),
                store_bytes_per_chunk = bytes / size, top = Top,
                vector_p50_ms = vector.P50, vector_p99_ms = vector.P99, bm25_p50_ms = bm25.P50, bm25_p99_ms = bm25.P99,
                hybrid_p50_ms = hybrid.P50, hybrid_p99_ms = hybrid.P99,
            });
        }
        foreach (var s in new[] { "", "-wal", "-shm" }) File.Delete(path + s);
    }

    /// <summary>p50 and p99 of <see cref="Queries"/> calls, in milliseconds.</summary>
    static (double P50, double P99) Time(Action query)
    {
        var ms = new double[Queries];
        for (int i = 0; i < Queries; i++)
        {
            var clock = Stopwatch.StartNew();
            query();
            ms[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ms);
        return (JsonLine.Round(ms[Queries / 2], 2), JsonLine.Round(ms[(int)(Queries * 0.99) - 1], 2));
    }

    /// <summary>Words w0…w19999 drawn with probability falling as 1/rank (so common words are common, as in text).</summary>
    static string Text(Random random, int words) =>
        string.Join(' ', Enumerable.Range(0, words).Select(_ => "w" + (int)Math.Exp(random.NextDouble() * Math.Log(20_000))));

    static float[] UnitVector(Random random)
    {
        var v = new float[Dimensions];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(random.NextDouble() * 2 - 1);
        float norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v));
        System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
        return v;
    }
}
