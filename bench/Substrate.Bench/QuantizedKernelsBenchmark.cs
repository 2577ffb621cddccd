using System.Diagnostics;
using System.Runtime.InteropServices;
using Substrate.Inference.CpuDecode;
using Substrate.Nn.Ggml;

namespace Substrate.Bench;

/// <summary>
/// quantized-kernels: the batch-1 dot products of the block types a Qwen2.5-0.5B Q4_K_M file holds (Q4_K and Q6_K where
/// the width is whole 256-blocks, llama.cpp's Q5_0 and Q8_0 fallbacks at hidden 896 and for the tied head), Substrate's
/// (<see cref="CpuQuantMatMul.Multiply"/> with one row: quantize the input once, one dot product per weight row) against
/// ggml-cpu's own (<c>quantize_row_q8_0/_K</c> and <c>ggml_vec_dot_*_q8_*</c> from LLamaSharp 0.30.0's AVX2 library, called
/// row by row on the same bytes), one thread, side by side in one run: GB/s of weights over a matrix of
/// $SUBSTRATE_BENCH_KERNEL_MB (default 96 MB, past the last-level cache, as a token's weights are) and over one that fits
/// in L2 (compute, not memory), best of 5 after a warm-up (the JIT's optimized tier). Also counts the rows whose two results differ (bit for bit).
/// </summary>
public static unsafe class QuantizedKernelsBenchmark
{
    private const int Runs = 5;

    /// <summary>(type, row width): the Qwen2.5-0.5B shape's matrices — 896-wide q/k/v/o/gate/up and the head, 4864-wide down.</summary>
    private static readonly (GgmlType Type, int Cols)[] Cases =
        [(GgmlType.Q4_K, 4864), (GgmlType.Q6_K, 4864), (GgmlType.Q5_0, 896), (GgmlType.Q8_0, 896), (GgmlType.Q4_K, 1024), (GgmlType.Q6_K, 1024)];

    public static void Run()
    {
        var megabytes = int.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_KERNEL_MB"), out var mb) ? mb : 96;
        var ggml = GgmlCpu.Load();
        for (var pass = 0; pass < 3; pass++) // warm-up: the kernels reach the JIT's optimized tier (and its loops' OSR) before timing
        {
            foreach (var (type, cols) in Cases) Measure(ggml, type, cols, 256L << 10, runs: 20);
            Thread.Sleep(300);
        }
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        foreach (var (type, cols) in Cases)
            foreach (var (place, bytes) in new[] { ("memory", (long)megabytes << 20), ("l2", 256L << 10) })
            {
                var (ours, theirs, differ, rows) = Measure(ggml, type, cols, bytes);
                var gigabytes = rows * GgmlQuant.ByteCount(type, cols) / 1e9;
                JsonLine.Write(new
                {
                    benchmark = "quantized-kernels", type = type.ToString(), cols, rows, place, threads = 1,
                    substrate_gb_per_s = JsonLine.Round(gigabytes / ours, 2), ggml_gb_per_s = JsonLine.Round(gigabytes / theirs, 2),
                    ratio = JsonLine.Round(theirs / ours, 2), rows_differing = differ, load,
                });
            }
    }

    /// <summary>Best seconds of one matrix-vector product, each engine; rows whose results differ.</summary>
    private static (double Ours, double Theirs, int Differ, int Rows) Measure(GgmlCpu ggml, GgmlType type, int cols, long bytes, int runs = Runs)
    {
        var rowBytes = GgmlQuant.ByteCount(type, cols);
        var rows = (int)Math.Max(16, bytes / rowBytes);
        var random = new Random(1234);
        var tileRows = Math.Min(rows, 256); // quantize a tile of rows (K-quant encoding is slow) and repeat it
        var tile = GgmlQuant.Encode(Enumerable.Range(0, tileRows * cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), type);
        var weights = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
        var x = Enumerable.Range(0, cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var (ours, theirs) = (new float[rows], new float[rows]);
        var activations = new byte[GgmlQuant.ByteCount(type is GgmlType.Q4_K or GgmlType.Q6_K ? GgmlType.Q8_K : GgmlType.Q8_0, cols)];
        try
        {
            for (var r = 0; r < rows; r += tileRows)
                tile.AsSpan(0, (int)(Math.Min(tileRows, rows - r) * rowBytes)).CopyTo(new Span<byte>(weights + r * rowBytes, (int)(Math.Min(tileRows, rows - r) * rowBytes)));
            var format = Enum.Parse<WeightFormat>(type.ToString());
            double oursBest = double.MaxValue, theirsBest = double.MaxValue;
            fixed (float* input = x, y = ours, z = theirs)
            fixed (byte* q = activations)
                for (var run = 0; run < runs; run++)
                {
                    var clock = Stopwatch.StartNew();
                    CpuQuantMatMul.Multiply(format, weights, rows, cols, input, 1, y);
                    oursBest = Math.Min(oursBest, clock.Elapsed.TotalSeconds);
                    clock.Restart();
                    ggml.MatVec(type, weights, rows, cols, rowBytes, input, q, z);
                    theirsBest = Math.Min(theirsBest, clock.Elapsed.TotalSeconds);
                }
            var differ = Enumerable.Range(0, rows).Count(r => BitConverter.SingleToInt32Bits(ours[r]) != BitConverter.SingleToInt32Bits(theirs[r]));
            return (oursBest, theirsBest, differ, rows);
        }
        finally { NativeMemory.AlignedFree(weights); }
    }

    /// <summary>ggml-cpu's row quantizers and dot products, from the AVX2 build of LLamaSharp's native libraries.</summary>
    private sealed class GgmlCpu
    {
        private readonly nint library;

        private GgmlCpu(nint library) => this.library = library;

        public static GgmlCpu Load()
        {
            var folder = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "avx2");
            NativeLibrary.Load(Path.Combine(folder, "libggml-base.so")); // the cpu library's dependency, found by name once loaded
            var cpu = NativeLibrary.Load(Path.Combine(folder, "libggml-cpu.so"));
            ((delegate* unmanaged<void>)NativeLibrary.GetExport(cpu, "ggml_cpu_init"))(); // fp16 tables
            return new GgmlCpu(cpu);
        }

        /// <summary>y[r] = row r · x as ggml computes it: x quantized once (into q), then vec_dot per row.</summary>
        public void MatVec(GgmlType type, byte* weights, int rows, int cols, long rowBytes, float* x, byte* q, float* y)
        {
            var kquant = type is GgmlType.Q4_K or GgmlType.Q6_K;
            var quantize = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(library, kquant ? "quantize_row_q8_K" : "quantize_row_q8_0");
            var dot = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)NativeLibrary.GetExport(library,
                $"ggml_vec_dot_{type.ToString().ToLowerInvariant().Replace("_k", "_K")}_q8_{(kquant ? "K" : "0")}");
            quantize(x, q, cols);
            for (var r = 0; r < rows; r++) dot(cols, y + r, 0, weights + r * rowBytes, 0, q, 0, 1);
        }
    }
}
