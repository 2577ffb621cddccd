using Substrate.Training;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// This machine's measured matrix-product peak: best GFLOP/s (2n³ per product) over square products of
/// 1024–2048, fp32 and bf16, on all of libtorch's threads — <see cref="MatmulPeak"/>, the same
/// measurement pretraining uses for MFU.
/// </summary>
internal static class MatmulPeakBenchmark
{
    static readonly int[] Sizes = [1024, 1536, 2048];

    public static void Run()
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            var (gflops, size) = Sizes.Select(n => (MatmulPeak.Measure(dtype, n: n, seconds: 0.5) / 1e9, n)).Max();
            JsonLine.Write(new
            {
                bench = "matmul-peak",
                dtype = dtype == ScalarType.Float32 ? "float32" : "bfloat16",
                gflops = JsonLine.Round(gflops),
                size,
                threads = get_num_threads(),
            });
        }
    }

    /// <summary>Best measured GFLOP/s for one dtype on the current thread count, the denominator for other benchmarks' MFU.</summary>
    public static double Peak(ScalarType dtype) => Sizes.Max(n => MatmulPeak.Measure(dtype, n: n, seconds: 0.5)) / 1e9;
}
