using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Training.Distributed;

/// <summary>
/// ZeRO stage 1 over MPI: the parameters laid end to end as one flat vector of P floats, padded to N·S (S = ⌈P/N⌉); rank r owns
/// [r·S, (r+1)·S) and keeps AdamW moments for that range only (2·S floats instead of 2·P). A step: every gradient into the flat
/// host buffer → MPI_Reduce_scatter_block (in place) leaves rank r the sum of its range → scaled by 1/N into the owned part of each gradient →
/// AdamW updates the owned ranges (the norm summed over ranks) → MPI_Allgather (in place, the same buffer) → every weight back.
/// A checkpoint gathers the moments to rank 0 alone (MPI_Gather into the same buffer), the only rank that writes.
/// One buffer of N·S floats serves every collective (the reduce-scatter leaves its result at the start): the sharded run holds
/// no more gradient buffers than the bucketed one, and no second one for the result.
/// </summary>
public sealed unsafe class OptimizerShards : IOptimizerShards, IDisposable
{
    readonly World world;
    readonly Tensor[] parameters;
    readonly long[] offsets; // each parameter's first element in the flat vector
    readonly long shard;     // S
    readonly Tensor flat;    // (N·S) fp32, host

    public OptimizerShards(World world, IReadOnlyList<Tensor> parameters)
    {
        this.world = world;
        this.parameters = [.. parameters];
        offsets = new long[this.parameters.Length];
        long total = 0;
        for (int i = 0; i < offsets.Length; i++) { offsets[i] = total; total += this.parameters[i].numel(); }
        shard = (total + world.Size - 1) / world.Size;
        if (shard > int.MaxValue) throw new NotSupportedException($"optimizer sharding: {shard} floats per rank exceeds MPI's int count");
        flat = zeros(shard * world.Size, ScalarType.Float32).DetachFromDisposeScope();
    }

    long Begin => world.Rank * shard;

    public (long Lo, long Length) OwnedRange(int index)
    {
        long start = offsets[index], end = start + parameters[index].numel();
        long lo = Math.Max(start, Begin), hi = Math.Min(end, Begin + shard);
        return hi > lo ? (lo - start, hi - lo) : (0, 0);
    }

    public double SumOverRanks(double value) => world.AllReduceSum(value);

    /// <summary>Each rank's owned part of every gradient becomes the mean over ranks of that part (the rest is left as it was and unused).</summary>
    public void ReduceScatterGradients()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            p.grad ??= zeros_like(p).DetachFromDisposeScope();
            flat.narrow(0, offsets[i], p.numel()).copy_(p.grad.reshape(-1));
        }
        world.ReduceScatterSumInPlace(TensorMemory.Floats(flat), (int)shard);
        var mine = flat.narrow(0, 0, shard).mul_(1f / world.Size); // (S) this rank's summed range, at the buffer's start
        for (int i = 0; i < parameters.Length; i++)
        {
            var (lo, length) = OwnedRange(i);
            if (length > 0) parameters[i].grad!.view(-1).narrow(0, lo, length).copy_(mine.narrow(0, offsets[i] + lo - Begin, length));
        }
    }

    public void AllGatherParameters()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Place(parameters.Select(p => p.view(-1)).ToArray(), owned: false);
        world.AllGatherInPlace(TensorMemory.Floats(flat), (int)shard);
        for (int i = 0; i < parameters.Length; i++) parameters[i].view(-1).copy_(flat.narrow(0, offsets[i], parameters[i].numel()));
    }

    /// <summary>Rank 0 alone receives (MPI_Gather): the other ranks send their parts and get an empty dictionary, holding nothing
    /// the size of the whole. On rank 0 exp_avg is copied out of the flat buffer and exp_avg_sq left in it as views (one copy
    /// of the model's size, not two), valid until the buffer's next use: the next step's gradients.</summary>
    public Dictionary<string, Tensor> GatherMoments(Tensor[] expAvg, Tensor[] expAvgSq, string[] names)
    {
        var state = new Dictionary<string, Tensor>();
        foreach (var (parts, suffix, copy) in new[] { (expAvg, ".exp_avg", true), (expAvgSq, ".exp_avg_sq", false) })
        {
            Place(parts, owned: true);
            world.GatherInPlace(TensorMemory.Floats(flat), (int)shard);
            if (!world.IsRoot) continue;
            for (int i = 0; i < parameters.Length; i++)
            {
                var whole = flat.narrow(0, offsets[i], parameters[i].numel()).view(parameters[i].shape); // freed by the caller's scope
                state[names[i] + suffix] = copy ? whole.clone() : whole;
            }
        }
        return state;
    }

    /// <summary>Writes this rank's range into the flat buffer, from <paramref name="tensors"/>' owned parts (<paramref name="owned"/>:
    /// the tensors are the parts themselves).</summary>
    void Place(Tensor[] tensors, bool owned)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < parameters.Length; i++)
        {
            var (lo, length) = OwnedRange(i);
            if (length == 0) continue;
            var part = owned ? tensors[i].view(-1) : tensors[i].narrow(0, lo, length);
            flat.narrow(0, offsets[i] + lo, length).copy_(part);
        }
    }

    public void Dispose() => flat.Dispose();
}
