using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Training.Distributed;

/// <summary>
/// What data-parallel training adds to a recipe's step: the same starting weights on every rank (broadcast from rank 0),
/// gradients averaged over ranks after the backward pass, the loss averaged for the log, and a check that every rank runs the
/// same configuration. Gradients are all-reduced in buckets: each bucket is one contiguous fp32 host buffer (the gradients of
/// consecutive parameters copied in, summed in place by MPI_Allreduce, scaled by 1/N, copied back). TorchSharp 0.107 has no
/// gradient hooks (no <c>Tensor.register_hook</c>, no backward module hooks), so the buckets go after the backward pass, not
/// overlapped with it. With one rank every call returns at once.
/// </summary>
public sealed unsafe class DataParallel : IDisposable
{
    /// <summary>25 MiB of fp32 gradients per bucket, PyTorch DDP's default.</summary>
    public const long DefaultBucketElements = 25L * 1024 * 1024 / 4;

    sealed record Bucket(Tensor Buffer, (Tensor Parameter, long Offset)[] Members);

    readonly Bucket[] buckets;
    readonly OptimizerShards? shards;

    /// <param name="parameters">The trained parameters, each once, in the same order on every rank.</param>
    /// <param name="bucketElements">Floats per bucket (a larger parameter gets a bucket of its own); long.MaxValue: one all-reduce.</param>
    public DataParallel(World world, IEnumerable<Tensor> parameters, long bucketElements = DefaultBucketElements)
    {
        World = world;
        Parameters = parameters.ToArray();
        buckets = world.Size == 1 ? [] : Pack([.. Parameters], bucketElements);
    }

    DataParallel(World world, AdamW optimizer)
    {
        World = world;
        Parameters = optimizer.Parameters.ToArray();
        buckets = [];
        shards = new OptimizerShards(world, Parameters);
        optimizer.Shard(shards);
    }

    /// <summary>
    /// Data parallelism over <paramref name="optimizer"/>'s parameters; <paramref name="shardOptimizer"/>: ZeRO stage 1 — the
    /// optimizer keeps the moments of this rank's share of the weights only (<see cref="OptimizerShards"/>; call before its first
    /// step or before loading a checkpoint's moments, which each rank then reads only its share of), gradients are reduce-scattered
    /// instead of all-reduced and the updated weights all-gathered.
    /// </summary>
    public static DataParallel Create(World world, AdamW optimizer, bool shardOptimizer) =>
        shardOptimizer && world.Size > 1 ? new DataParallel(world, optimizer) : new DataParallel(world, optimizer.Parameters);

    /// <summary>True when the optimizer's state is split over the ranks (ZeRO stage 1).</summary>
    public bool ShardsOptimizer => shards is not null;

    public World World { get; }
    public IReadOnlyList<Tensor> Parameters { get; }
    public int BucketCount => buckets.Length;

    static Bucket[] Pack(Tensor[] parameters, long bucketElements)
    {
        var result = new List<Bucket>();
        var members = new List<(Tensor, long)>();
        long size = 0;
        void Close()
        {
            if (members.Count == 0) return;
            result.Add(new Bucket(empty(size, ScalarType.Float32).DetachFromDisposeScope(), [.. members]));
            members.Clear();
            size = 0;
        }
        foreach (var p in parameters)
        {
            if (size > 0 && size + p.numel() > bucketElements) Close();
            members.Add((p, size));
            size += p.numel();
        }
        Close();
        return [.. result];
    }

    /// <summary>Rank 0's values of every parameter, on every rank (a fresh run's initialization, a loaded checkpoint).</summary>
    public void BroadcastParameters()
    {
        if (World.Size == 1) return;
        using var noGrad = no_grad();
        foreach (var p in Parameters)
        {
            using var scope = NewDisposeScope();
            var host = p.detach().to(ScalarType.Float32, CPU).contiguous().clone(); // (numel) host copy MPI can address
            World.Broadcast(TensorMemory.Floats(host), host.numel());
            p.copy_(host);
        }
    }

    /// <summary>Replaces every rank's gradients with their mean over the ranks (a parameter without a gradient counts as zeros).</summary>
    public void AverageGradients()
    {
        if (World.Size == 1) return;
        if (shards is not null) { shards.ReduceScatterGradients(); return; } // each rank needs the mean of its own range only
        using var noGrad = no_grad();
        float scale = 1f / World.Size;
        foreach (var bucket in buckets)
        {
            using var scope = NewDisposeScope();
            foreach (var (p, offset) in bucket.Members)
            {
                p.grad ??= zeros_like(p).DetachFromDisposeScope();
                bucket.Buffer.narrow(0, offset, p.numel()).copy_(p.grad.reshape(-1));
            }
            World.AllReduceSum(TensorMemory.Floats(bucket.Buffer), bucket.Buffer.numel());
            bucket.Buffer.mul_(scale);
            foreach (var (p, offset) in bucket.Members) p.grad!.copy_(bucket.Buffer.narrow(0, offset, p.numel()).view(p.shape));
        }
    }

    /// <summary>The mean of <paramref name="value"/> over the ranks (the step's loss: each rank's is the mean of its slice).</summary>
    public double Average(double value) => World.Size == 1 ? value : World.AllReduceSum(value) / World.Size;

    /// <summary>
    /// Every rank must train the same thing: a hash of <paramref name="description"/> (the resolved config, the data's fingerprint)
    /// is compared across ranks, and a difference is the same error on every rank, naming the ranks that differ from rank 0.
    /// </summary>
    public static void CheckSameConfig(World world, string what, string description)
    {
        if (world.Size == 1) return;
        long hash = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes(description)));
        var all = world.AllGather(hash);
        var differing = Enumerable.Range(1, world.Size - 1).Where(r => all[r] != all[0]).ToArray();
        if (differing.Length > 0)
            throw new ArgumentException($"mpirun: the {what} of rank{(differing.Length > 1 ? "s" : "")} {string.Join(", ", differing)} "
                + $"differs from rank 0's; every rank must be started with the same flags, config and data");
    }

    /// <summary>For a recipe's start line under mpirun: ", N ranks × batch_size B" and <see cref="ShardingNote"/> (a collective).</summary>
    public string RanksNote(AdamW optimizer, bool shardOptimizer, int batchSize) =>
        (World.Size > 1 ? $", {World.Size} ranks × batch_size {batchSize}" : "") + ShardingNote(optimizer, shardOptimizer);

    /// <summary>For a recipe's start line. Sharded: the moment floats each rank keeps (a collective every rank makes), against the
    /// whole's (2 per trained weight). Asked for on one rank, sharding is said to do nothing rather than ignored in silence.</summary>
    public string ShardingNote(AdamW optimizer, bool asked)
    {
        if (!ShardsOptimizer) return asked ? ", --shard-optimizer has no effect on one rank (it splits the moments under mpirun)" : "";
        long[] perRank = World.AllGather(optimizer.StateElements);
        long whole = 2 * optimizer.Parameters.Sum(p => p.numel());
        return $", optimizer sharded: moment floats per rank {string.Join(" + ", perRank)} of {whole} "
            + $"({optimizer.StateElements * 4 / 1e6:F1} of {whole * 4 / 1e6:F1} MB on this rank)";
    }

    /// <summary>For a recipe's last line. Several ranks: each one's peak resident memory (VmHWM; a collective every rank makes).</summary>
    public static string PeakMemoryNote(World world)
    {
        if (world.Size == 1) return "";
        long[] peaks = world.AllGather(Process.GetCurrentProcess().PeakWorkingSet64);
        return $"; peak RSS per rank {string.Join(" / ", peaks.Select(b => $"{b / 1e6:F0}"))} MB";
    }

    public void Dispose()
    {
        foreach (var b in buckets) b.Buffer.Dispose();
        shards?.Dispose();
    }
}
