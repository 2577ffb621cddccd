using System.Diagnostics;
using Substrate.Models;
using Substrate.Nn.Kernels;
using Substrate.Training;
using Substrate.Training.Distributed;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// <c>allreduce</c>, run under mpirun (<c>scripts/mpirun-local.sh -np 2 dotnet Substrate.Bench.dll allreduce</c>): the time to
/// average bench-12m's fp32 gradients over the ranks with <see cref="DataParallel.AverageGradients"/> — bucketed (25 MiB, 1 MiB)
/// and in one all-reduce — beside MPI_Allreduce alone on one flat buffer of the same size (no copies in or out) and on 8 bytes
/// (the latency term α of the ring cost model). Rank 0 prints; the bus bandwidth is 2(N−1)/N · bytes / time.
/// </summary>
public static unsafe class AllReduceBenchmark
{
    public static void Run()
    {
        var world = World.Current;
        if (world.Size < 2) Console.Error.WriteLine("allreduce: one rank (run it under mpirun -np 2 for a real figure)");
        Substrate.Nn.ProcessRuntime.Configure(new Substrate.Nn.RuntimeSettings(1));
        manual_seed(0);
        using var model = new LlamaForCausalLM(ModelPresets.Get("bench-12m"), new ModelOptions());
        var parameters = model.parameters().ToArray();
        foreach (var p in parameters) p.grad = randn_like(p).DetachFromDisposeScope();
        long elements = parameters.Sum(p => p.numel()), bytes = elements * 4;
        int n = world.Size;
        double busFactor = 2.0 * (n - 1) / Math.Max(n, 1);

        void Report(string method, int buckets, double seconds) { if (world.IsRoot) JsonLine.Write(new
        {
            bench = "allreduce", model = "bench-12m", ranks = n, method, buckets, gradient_bytes = bytes, ms = JsonLine.Round(seconds * 1e3, 2),
            bus_gbit_s = JsonLine.Round(busFactor * bytes * 8 / seconds / 1e9, 2), loadavg_1m = TrainBenchmark.LoadAverage(),
        }); }

        var methods = new[] { ("bucketed-25MiB", DataParallel.DefaultBucketElements), ("bucketed-1MiB", 1L << 18), ("one-shot", long.MaxValue) };
        foreach (var (method, bucket) in methods)
        {
            using var parallel = new DataParallel(world, parameters, bucket);
            Report(method, parallel.BucketCount, Time(world, () => parallel.AverageGradients()));
        }
        using (var flat = zeros(elements))
        {
            float* data = TensorMemory.Floats(flat);
            Report("mpi-allreduce-flat", 1, Time(world, () => world.AllReduceSum(data, elements)));
        }
        double latency = Time(world, () => world.AllReduceSum(1.0), repeats: 200);
        if (world.IsRoot) JsonLine.Write(new { bench = "allreduce", ranks = n, method = "latency-8-bytes", us = JsonLine.Round(latency * 1e6, 1) });
        World.End(0);
    }

    /// <summary>The median of <paramref name="repeats"/> timed calls after two warm-ups, every rank starting together.</summary>
    static double Time(World world, Action run, int repeats = 10)
    {
        run(); run();
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            world.Barrier();
            var clock = Stopwatch.StartNew();
            run();
            times.Add(world.AllReduceMax(clock.Elapsed.TotalSeconds)); // the slowest rank's time
        }
        return times.Order().ElementAt(repeats / 2);
    }
}
