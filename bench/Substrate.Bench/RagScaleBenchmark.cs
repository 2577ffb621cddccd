using System.Diagnostics;
using Substrate.Retrieval.Store;

namespace Substrate.Bench;

/// <summary>
/// Search latency against store size: stores of generated text (~120 words from a Zipf-like 20k-word vocabulary, so a
/// query's common words match most chunks, as "the" does) with random 384-dimensional unit vectors, written 100 chunks a
/// document as <c>rag index</c> writes them; then 200 queries each of vector search, BM25 (three words) and hybrid (top 10),
/// after one warm-up query that loads the vector index. Vector search is also timed exact (every row scored) beside the
/// int8 path it takes from <see cref="VectorIndex.QuantizedFromRows"/>, with recall@10 of the one against the other.
/// Sizes: $SUBSTRATE_RAG_SCALE_SIZES (default 10000,100000). $SUBSTRATE_RAG_SCALE_DIR keeps the stores there and reuses
/// one already built (build figures are then null; a store made before the BM25 postings has them built by the first
/// read-write open, timed as open_s); without it they are made under the temp folder and deleted. Each mode also reports
/// the CPU time a query costs (and BM25 its thread's p50/p99), which the machine's load does not inflate as it does p99.
/// One JSON line a size.
/// </summary>
public static class RagScaleBenchmark
{
    const int Dimensions = 384, ChunksPerDocument = 100, Queries = 200, RecallQueries = 50, Top = 10;

    public static void Run()
    {
        var sizes = (Environment.GetEnvironmentVariable("SUBSTRATE_RAG_SCALE_SIZES") ?? "10000,100000").Split(',').Select(int.Parse);
        foreach (var size in sizes) Measure(size);
    }

    static void Measure(int size)
    {
        var keep = Environment.GetEnvironmentVariable("SUBSTRATE_RAG_SCALE_DIR");
        var path = Path.Combine(keep ?? Path.GetTempPath(), keep is null ? $"substrate-rag-scale-{Environment.ProcessId}-{size}.db" : $"rag-scale-{size}.db");
        var random = new Random(size);
        var build = File.Exists(path) ? null : Build(path, size, random);
        long bytes = new[] { "", "-wal", "-shm" }.Select(s => path + s).Where(File.Exists).Sum(f => new FileInfo(f).Length);
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        bool rebuilt;
        using (var reader = ChunkStore.OpenReadOnly(path)) rebuilt = !reader.HasBm25Postings;
        var opening = Stopwatch.StartNew();
        using (var store = ChunkStore.Open(path, create: false))   // builds the BM25 postings of a store made without them
        {
            double openSeconds = opening.Elapsed.TotalSeconds;
            var clock = Stopwatch.StartNew();
            var index = store.Vectors();   // loaded once, then kept in step with writes
            double loadSeconds = clock.Elapsed.TotalSeconds;
            store.SearchHybrid(Text(random, 3), UnitVector(random), Top);
            var vector = Time(() => store.SearchVector(UnitVector(random), Top));
            var exact = Time(() => index.SearchExact(UnitVector(random), Top));
            double recall = Enumerable.Range(0, RecallQueries).Select(_ => UnitVector(random)).Average(q =>
                index.Search(q, Top).Select(h => h.Id).Intersect(index.SearchExact(q, Top).Select(h => h.Id)).Count() / (double)Top);
            var before = store.Bm25Counts();
            var bm25 = Time(() => store.SearchBm25(Text(random, 3), Top));
            int pruned = store.Bm25Counts().Pruned - before.Pruned;
            var hybrid = Time(() => store.SearchHybrid(Text(random, 3), UnitVector(random), Top));
            using var process = Process.GetCurrentProcess();
            JsonLine.Write(new
            {
                benchmark = "rag-scale", chunks = size, dimensions = Dimensions, build_s = build?.Seconds,
                build_chunks_per_s = build is { } b ? Math.Round(size / b.Seconds) : (double?)null,
                build_text_mb_per_s = build is { } t ? JsonLine.Round(t.TextBytes / 1e6 / t.Seconds, 2) : (double?)null,
                store_bytes_per_chunk = bytes / size, open_s = JsonLine.Round(openSeconds, 2), postings_built_on_open = rebuilt,
                vector_load_s = JsonLine.Round(loadSeconds, 2), int8 = index.IsQuantized, top = Top,
                vector_p50_ms = vector.P50, vector_p99_ms = vector.P99, vector_cpu_ms = vector.CpuMs, exact_p50_ms = exact.P50, exact_p99_ms = exact.P99,
                recall_at_10 = JsonLine.Round(recall, 3), bm25_p50_ms = bm25.P50, bm25_p99_ms = bm25.P99, bm25_cpu_ms = bm25.CpuMs,
                bm25_thread_cpu_p50_ms = bm25.ThreadCpuP50, bm25_thread_cpu_p99_ms = bm25.ThreadCpuP99,
                bm25_pruned = JsonLine.Round(pruned / (double)Queries, 2), hybrid_p50_ms = hybrid.P50, hybrid_p99_ms = hybrid.P99, hybrid_cpu_ms = hybrid.CpuMs,
                peak_rss_mb = process.PeakWorkingSet64 >> 20, load_average = double.Parse(load),
            });
        }
        if (keep is null) foreach (var s in new[] { "", "-wal", "-shm" }) File.Delete(path + s);
    }

    /// <summary>Writes the store a document (100 chunks) a transaction; its seconds and the bytes of text written.</summary>
    static (double Seconds, long TextBytes)? Build(string path, int size, Random random)
    {
        var clock = Stopwatch.StartNew();
        long textBytes = 0;
        using var store = ChunkStore.Open(path);
        store.UseEmbedding("random-unit", Dimensions);
        for (int d = 0; d < size / ChunksPerDocument; d++)
        {
            var chunks = Enumerable.Range(0, ChunksPerDocument).Select(_ => ("", Text(random, 120))).ToList();
            var vectors = chunks.Select(_ => (ReadOnlyMemory<float>)UnitVector(random)).ToList();
            textBytes += chunks.Sum(c => c.Item2.Length);
            store.ReplaceDocument($"doc{d:D5}.txt", $"{d}", chunks, vectors);
            if (d % 1000 == 999) Console.Error.WriteLine($"rag-scale: {(d + 1) * ChunksPerDocument} of {size} chunks, {clock.Elapsed.TotalSeconds:F0} s");
        }
        return (JsonLine.Round(clock.Elapsed.TotalSeconds), textBytes);
    }

    /// <summary>p50 and p99 of <see cref="Queries"/> calls, in milliseconds; the process's CPU time a call (all its threads:
    /// what a query costs whatever else the machine runs, where the wall-clock p99 counts time waiting for a core); and
    /// p50/p99 of the calling thread's CPU time a call (the whole cost of a single-threaded search such as BM25's).</summary>
    static (double P50, double P99, double CpuMs, double ThreadCpuP50, double ThreadCpuP99) Time(Action query)
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var ms = new double[Queries];
        var threadMs = new double[Queries];
        for (int i = 0; i < Queries; i++)
        {
            double threadBefore = ThreadCpuMs();
            var clock = Stopwatch.StartNew();
            query();
            ms[i] = clock.Elapsed.TotalMilliseconds;
            threadMs[i] = ThreadCpuMs() - threadBefore;
        }
        process.Refresh();
        double cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds / Queries;
        Array.Sort(ms);
        Array.Sort(threadMs);
        int p50 = Queries / 2, p99 = (int)(Queries * 0.99) - 1;
        return (JsonLine.Round(ms[p50], 2), JsonLine.Round(ms[p99], 2), JsonLine.Round(cpuMs, 2),
            JsonLine.Round(threadMs[p50], 2), JsonLine.Round(threadMs[p99], 2));
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct TimeSpec { public long Seconds, Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>This thread's CPU time (CLOCK_THREAD_CPUTIME_ID, Linux), in milliseconds; 0 where it cannot be read.</summary>
    static double ThreadCpuMs()
    {
        const int ThreadCpuClock = 3;
        if (!OperatingSystem.IsLinux() || ClockGetTime(ThreadCpuClock, out var t) != 0) return 0;
        return t.Seconds * 1e3 + t.Nanoseconds / 1e6;
    }

    /// <summary>Words w1…w19999 drawn with probability falling as 1/rank (so common words are common, as in text).</summary>
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
