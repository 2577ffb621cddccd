using static Substrate.Training.Distributed.MpiNative;

namespace Substrate.Training.Distributed;

/// <summary>
/// The ranks of this job: rank and size, and the MPI collectives over them (MPI_COMM_WORLD). Under <c>mpirun</c> (Open MPI sets
/// <c>OMPI_COMM_WORLD_SIZE</c>) the first use of <see cref="Current"/> initializes MPI; otherwise it is a world of one and no
/// MPI library is loaded, so nothing changes for a plain run. MPI is per process, so the world is one process-wide object.
/// </summary>
public sealed unsafe class World
{
    const int MaxCount = 1 << 30; // MPI counts are int: longer buffers go in slices

    World(int rank, int size, bool mpi) => (Rank, Size, UsesMpi) = (rank, size, mpi);

    public int Rank { get; }
    public int Size { get; }
    public bool IsRoot => Rank == 0;

    /// <summary>True when this process initialized MPI (launched by mpirun, even with one rank).</summary>
    public bool UsesMpi { get; }

    /// <summary>A world of one, without MPI (library callers and tests).</summary>
    public static World Single { get; } = new(0, 1, mpi: false);

    static World? current;
    static readonly Lock gate = new();

    /// <summary>This process's world: MPI's when launched by mpirun, <see cref="Single"/> otherwise.</summary>
    public static World Current
    {
        get { lock (gate) return current ??= LaunchedByMpirun ? Initialize() : Single; }
    }

    /// <summary>Open MPI's launcher (mpirun, or a PMIx-launched srun) sets these in every rank's environment.</summary>
    public static bool LaunchedByMpirun =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    static World Initialize()
    {
        Load();
        Check(MPI_Initialized(out int initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            // The training loop calls MPI from whichever thread runs it (the CLI's progress display owns the main one): SERIALIZED at least.
            Check(MPI_Init_thread(0, 0, ThreadMultiple, out int provided), "MPI_Init_thread");
            if (provided < ThreadSerialized) throw new NotSupportedException($"MPI: thread level {provided} < MPI_THREAD_SERIALIZED");
        }
        Check(MPI_Comm_rank(CommWorld, out int rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(CommWorld, out int size), "MPI_Comm_size");
        return new World(rank, size, mpi: true);
    }

    /// <summary>Ends MPI for this process: MPI_Finalize after success, MPI_Abort (which ends every rank) after a failure, so one
    /// rank's error never leaves the others waiting in a collective. A no-op without MPI.</summary>
    public static void End(int exitCode)
    {
        World? world;
        lock (gate) world = current;
        if (world is not { UsesMpi: true }) return;
        Check(MPI_Finalized(out int finalized), "MPI_Finalized");
        if (finalized != 0) return;
        if (exitCode == 0) { MPI_Finalize(); return; }
        // A check made together (a configuration differing across ranks) fails on every rank at once: a moment lets the other
        // ranks print their own error line before the abort ends them.
        if (world.Size > 1) Thread.Sleep(TimeSpan.FromSeconds(1));
        MPI_Abort(CommWorld, exitCode);
    }

    /// <summary>Sums <paramref name="count"/> floats at <paramref name="data"/> over all ranks, in place; every rank gets the sum.</summary>
    public void AllReduceSum(float* data, long count)
    {
        if (Size == 1) return;
        for (long at = 0; at < count; at += MaxCount)
            Check(MPI_Allreduce((void*)InPlace, data + at, (int)Math.Min(MaxCount, count - at), FloatType, OpSum, CommWorld), "MPI_Allreduce");
    }

    /// <summary>The sum of <paramref name="value"/> over all ranks.</summary>
    public double AllReduceSum(double value) => AllReduce(value, OpSum);

    public double AllReduceMax(double value) => AllReduce(value, OpMax);

    double AllReduce(double value, nint op)
    {
        if (Size == 1) return value;
        Check(MPI_Allreduce((void*)InPlace, &value, 1, DoubleType, op, CommWorld), "MPI_Allreduce");
        return value;
    }

    /// <summary>Every rank's <paramref name="value"/>, by rank.</summary>
    public long[] AllGather(long value)
    {
        var all = new long[Size];
        if (Size == 1) { all[0] = value; return all; }
        fixed (long* p = all) Check(MPI_Allgather(&value, 1, LongType, p, 1, LongType, CommWorld), "MPI_Allgather");
        return all;
    }

    /// <summary>Copies rank <paramref name="root"/>'s <paramref name="count"/> floats into every rank's <paramref name="data"/>.</summary>
    public void Broadcast(float* data, long count, int root = 0)
    {
        if (Size == 1) return;
        for (long at = 0; at < count; at += MaxCount)
            Check(MPI_Bcast(data + at, (int)Math.Min(MaxCount, count - at), FloatType, root, CommWorld), "MPI_Bcast");
    }

    /// <summary>Sums <paramref name="count"/> floats at <paramref name="data"/> over all ranks into rank <paramref name="root"/>'s
    /// <paramref name="data"/>, in place (MPI_Reduce); the other ranks' data is left as it was.</summary>
    public void ReduceSumInPlace(float* data, int count, int root)
    {
        if (Size == 1) return;
        Check(MPI_Reduce(Rank == root ? (void*)InPlace : data, Rank == root ? data : null, count, FloatType, OpSum, root, CommWorld), "MPI_Reduce");
    }

    /// <summary>Gathers every rank's <paramref name="shard"/> floats (rank r's at r × shard of <paramref name="result"/>), in place:
    /// this rank's shard must already lie at its place in <paramref name="result"/>.</summary>
    public void AllGatherInPlace(float* result, int shard)
    {
        if (Size == 1) return;
        Check(MPI_Allgather((void*)InPlace, 0, FloatType, result, shard, FloatType, CommWorld), "MPI_Allgather");
    }

    /// <summary>Gathers every rank's <paramref name="count"/> floats at <paramref name="send"/> into rank <paramref name="root"/>'s
    /// <paramref name="receive"/>, rank r's at <paramref name="displacements"/>[r] (MPI_Gatherv: the ranks may send different counts,
    /// <paramref name="counts"/>[r], zero included). <paramref name="receive"/> is only read on the root.</summary>
    public void GatherV(float* send, int count, float* receive, int[] counts, int[] displacements, int root = 0)
    {
        if (Size == 1) { Buffer.MemoryCopy(send, receive + displacements[0], count * 4L, count * 4L); return; }
        fixed (int* c = counts, d = displacements)
            Check(MPI_Gatherv(send, count, FloatType, Rank == root ? receive : null, c, d, FloatType, root, CommWorld), "MPI_Gatherv");
    }

    public void Barrier()
    {
        if (Size > 1) Check(MPI_Barrier(CommWorld), "MPI_Barrier");
    }
}
