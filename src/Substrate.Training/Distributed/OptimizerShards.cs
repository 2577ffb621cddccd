using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Training.Distributed;

/// <summary>
/// ZeRO stage 1 over MPI: the parameters laid end to end as one flat vector of P floats, padded to N·S (S = ⌈P/N⌉); rank r owns
/// [r·S, (r+1)·S) and keeps AdamW moments for that range only (2·S floats instead of 2·P). A step: every gradient into the flat
/// host buffer → MPI_Reduce of range r onto rank r (in place, 25 MiB slices) leaves rank r the sum of its range → scaled by 1/N into
/// the owned part of each gradient →
/// AdamW updates the owned ranges (the norm summed over ranks) → MPI_Allgather (in place, the same buffer) → every weight back.
/// A checkpoint gathers the moments to rank 0 alone, one tensor at a time (MPI_Gatherv into the same buffer), as rank 0 writes them.
/// One buffer of N·S floats serves every collective (each reduce leaves its result in place): the sharded run holds no more gradient
/// buffers than the bucketed one, no second one for the result, and MPI's temporaries stay one slice's size.
/// </summary>
public sealed unsafe class OptimizerShards : IOptimizerShards, IDisposable
{
    readonly World world;
    readonly Tensor[] parameters;
    readonly long[] offsets; // each parameter's first element in the flat vector
    readonly long shard;     // S
    readonly Tensor flat;    // (N·S) fp32, host

    /// <summary>Floats per MPI_Reduce of the gradients: 25 MiB, as the unsharded buckets.</summary>
    const long ReduceSlice = DataParallel.DefaultBucketElements;

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
        // Each rank's range summed onto that rank, in place: MPI_Reduce per range, in slices. Not one MPI_Reduce_scatter_block: Open MPI's
        // default algorithm for it reduces the whole vector to rank 0 first, into a temporary of N·S floats there (measured on base:
        // rank 0's peak 145 MiB above rank 1's); a slice bounds the temporary every reduce may make.
        float* data = TensorMemory.Floats(flat);
        for (int r = 0; r < world.Size; r++)
            for (long at = 0; at < shard; at += ReduceSlice)
                world.ReduceSumInPlace(data + r * shard + at, (int)Math.Min(ReduceSlice, shard - at), root: r);
        var mine = flat.narrow(0, Begin, shard).mul_(1f / world.Size); // (S) this rank's summed range
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
        Place(parameters.Select(p => p.view(-1)).ToArray());
        world.AllGatherInPlace(TensorMemory.Floats(flat), (int)shard);
        for (int i = 0; i < parameters.Length; i++) parameters[i].view(-1).copy_(flat.narrow(0, offsets[i], parameters[i].numel()));
    }

    /// <summary>Rank 0 alone receives (MPI_Gatherv): parameter <paramref name="index"/>'s whole moment, assembled from each rank's
    /// owned part (<paramref name="part"/>, 1-D) in the flat buffer's range of that parameter and returned as a view shaped like the
    /// parameter, valid until the buffer's next use (the next tensor's gather, the next step's gradients). One tensor at a time, so a
    /// checkpoint's writer streams the moments with nothing the size of the model allocated beside the buffer. Elsewhere: null.</summary>
    public Tensor? GatherMoment(int index, Tensor part)
    {
        var parameter = parameters[index];
        long start = offsets[index], numel = parameter.numel();
        if (numel > int.MaxValue) throw new NotSupportedException($"optimizer sharding: a parameter of {numel} floats exceeds MPI's int count");
        var counts = new int[world.Size];
        var displacements = new int[world.Size];
        for (int r = 0; r < world.Size; r++)
        {
            long lo = Math.Max(start, r * shard), hi = Math.Min(start + numel, (r + 1) * shard);
            if (hi > lo) (counts[r], displacements[r]) = ((int)(hi - lo), (int)(lo - start));
        }
        using var scope = NewDisposeScope();
        var send = part.to(ScalarType.Float32, CPU).contiguous(); // part itself for fp32 CPU moments
        world.GatherV(send.numel() == 0 ? null : TensorMemory.Floats(send), counts[world.Rank], TensorMemory.Floats(flat) + start, counts, displacements);
        return world.IsRoot ? flat.narrow(0, start, numel).view(parameter.shape).to(part.dtype).MoveToOuterDisposeScope() : null;
    }

    /// <summary>Writes this rank's range of every parameter (whole tensors) into the flat buffer.</summary>
    void Place(Tensor[] tensors)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < parameters.Length; i++)
        {
            var (lo, length) = OwnedRange(i);
            if (length > 0) flat.narrow(0, offsets[i] + lo, length).copy_(tensors[i].narrow(0, lo, length));
        }
    }

    public void Dispose() => flat.Dispose();
}
