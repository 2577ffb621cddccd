using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>This machine's measured matrix-product throughput, the denominator of MFU.</summary>
public static class MatmulPeak
{
    static readonly Dictionary<(ScalarType, DeviceType, int N, int Threads), double> Cache = new();

    /// <summary>
    /// FLOP/s of repeated n×n·n×n products in <paramref name="dtype"/> (2n³ FLOPs each), the best
    /// of several timed rounds after a warm-up, over about <paramref name="seconds"/>. Cached per dtype, device, size
    /// and thread count.
    /// </summary>
    public static double Measure(ScalarType dtype, Device? device = null, int n = 2048, double seconds = 1.0)
    {
        device ??= CPU;
        lock (Cache)
        {
            var key = (dtype, device.type, n, get_num_threads());
            if (Cache.TryGetValue(key, out var cached)) return cached;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var a = randn(n, n, device: device).to(dtype);
            var b = randn(n, n, device: device).to(dtype);
            a.matmul(b).Dispose(); // warm-up
            double best = 0, flops = 2.0 * n * n * n;
            var total = Stopwatch.StartNew();
            do
            {
                var round = Stopwatch.StartNew();
                int reps = 0;
                do { a.matmul(b).Dispose(); reps++; } while (round.Elapsed.TotalSeconds < 0.1);
                if (device.type != DeviceType.CPU) a.sum().cpu().Dispose(); // wait for the device
                best = Math.Max(best, reps * flops / round.Elapsed.TotalSeconds);
            } while (total.Elapsed.TotalSeconds < seconds);
            return Cache[key] = best;
        }
    }
}
