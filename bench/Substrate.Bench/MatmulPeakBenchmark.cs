using System.Diagnostics;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// This machine's measured matrix-product peak: best GFLOP/s (2n³ per product) over square products of
/// 1024–2048, fp32 and bf16, on all of libtorch's threads. The denominator for MFU figures.
/// </summary>
internal static class MatmulPeakBenchmark
{
    public static void Run()
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            var best = 0.0;
            var bestSize = 0;
            foreach (var n in new[] { 1024, 1536, 2048 })
            {
                using var scope = NewDisposeScope();
                manual_seed(0);
                var a = randn(n, n).to(dtype);
                var b = randn(n, n).to(dtype);
                mm(a, b).Dispose(); // warm-up (oneDNN primitive creation, page faults)
                var reps = n >= 2048 ? 3 : 5;
                for (var r = 0; r < reps; r++)
                {
                    var watch = Stopwatch.StartNew();
                    mm(a, b).Dispose();
                    var gflops = 2.0 * n * n * n / watch.Elapsed.TotalSeconds / 1e9;
                    if (gflops > best) (best, bestSize) = (gflops, n);
                }
            }
            JsonLine.Write(new
            {
                bench = "matmul-peak",
                dtype = dtype == ScalarType.Float32 ? "float32" : "bfloat16",
                gflops = JsonLine.Round(best),
                size = bestSize,
                threads = get_num_threads(),
            });
        }
    }

    private static readonly Dictionary<(ScalarType, int), double> Peaks = new();

    /// <summary>Best measured GFLOP/s for one dtype on the current thread count (square products of 1024,
    /// 1536, 2048; measured once per process), the denominator for other benchmarks' MFU.</summary>
    public static double Peak(ScalarType dtype)
    {
        var key = (dtype, get_num_threads());
        if (Peaks.TryGetValue(key, out var known)) return known;
        var best = 0.0;
        foreach (var n in new[] { 1024, 1536, 2048 })
        {
            using var scope = NewDisposeScope();
            var a = randn(n, n).to(dtype);
            var b = randn(n, n).to(dtype);
            mm(a, b).Dispose();
            for (var r = 0; r < 3; r++)
            {
                var watch = Stopwatch.StartNew();
                mm(a, b).Dispose();
                best = Math.Max(best, 2.0 * n * n * n / watch.Elapsed.TotalSeconds / 1e9);
            }
        }
        return Peaks[key] = best;
    }
}
