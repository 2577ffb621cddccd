using System.Diagnostics;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// A fixed team of threads that runs one job at a time, like llama.cpp's threadpool: the caller is worker 0,
/// the others are persistent threads that spin briefly for the next job and then block. One decoded token
/// runs ~30 jobs of a few to a few tens of microseconds, so waking threads through the .NET thread pool
/// (Parallel.For) would cost more than the work.
/// A job is a number of chunks that the workers claim one at a time (an interlocked counter), not a fixed
/// share per worker: on a shared machine a preempted worker delays the job by at most the chunk it holds,
/// and the others take the rest. Which worker runs a chunk never changes what the chunk computes.
/// Not reentrant: one caller at a time.
/// </summary>
internal sealed class CpuWorkerPool : IDisposable
{
    // After a job, a worker spins this long for the next one before blocking: jobs inside a token follow each other
    // within microseconds; between tokens (sampling) or generations the threads sleep instead of burning a core.
    // The spin never yields: on a busy machine a yield hands the core to another process for a whole time slice
    // (measured: the worker then ran ~6% of the chunks). Claiming chunks means no one waits for a worker that is away.
    private static readonly long SpinTicks = Stopwatch.Frequency / 5000; // 200 µs

    /// <summary>One job: immutable but for its counters, so a worker that wakes up late and still holds an old job
    /// finds no chunk left in it instead of running the wrong code.</summary>
    private sealed class Job(int chunks, Action<int, int> work, Action<int>? prepare)
    {
        public readonly int Chunks = chunks;
        public readonly Action<int, int> Work = work;    // (worker, chunk)
        public readonly Action<int>? Prepare = prepare;  // (worker), before a worker's first chunk
        public int Next;                                 // the next unclaimed chunk
        public int Done;                                 // chunks finished
        public Exception? Failure;
    }

    private readonly Thread[] threads;
    private readonly object gate = new();
    private Job? current;
    private int generation; // bumped once per job
    private int sleepers;   // workers blocked on `gate`
    private volatile bool disposed;

    public CpuWorkerPool(int workers)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), $"workers must be ≥ 1 (got {workers})");
        Workers = workers;
        threads = new Thread[workers - 1];
        for (var i = 0; i < threads.Length; i++)
        {
            var index = i + 1;
            threads[i] = new Thread(() => Loop(index)) { IsBackground = true, Name = $"CpuDecoder worker {index}" };
            threads[i].Start();
        }
    }

    public int Workers { get; }

    /// <summary>Runs work(worker, chunk) for every chunk in [0, <paramref name="chunks"/>), each once, on whichever workers
    /// claim them, with prepare(worker) before a worker's first chunk; returns when all chunks are done.</summary>
    public void Run(int chunks, Action<int, int> work, Action<int>? prepare = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var job = new Job(chunks, work, prepare);
        if (threads.Length > 0)
        {
            Volatile.Write(ref current, job);
            Interlocked.Increment(ref generation); // full fence: the job is visible before the new generation
            if (Volatile.Read(ref sleepers) > 0)
                lock (gate) Monitor.PulseAll(gate);
        }
        Execute(job, 0);
        var spin = new SpinWait();
        while (Volatile.Read(ref job.Done) != chunks) spin.SpinOnce(sleep1Threshold: -1);
        if (job.Failure is { } error) throw new AggregateException("a CpuDecoder job failed", error);
    }

    private static void Execute(Job job, int worker)
    {
        var prepared = false;
        for (int chunk; (chunk = Interlocked.Increment(ref job.Next) - 1) < job.Chunks;)
        {
            try
            {
                if (!prepared) job.Prepare?.Invoke(worker);
                prepared = true;
                job.Work(worker, chunk);
            }
            catch (Exception e) { Interlocked.CompareExchange(ref job.Failure, e, null); }
            finally { Interlocked.Increment(ref job.Done); }
        }
    }

    private void Loop(int worker)
    {
        var seen = 0;
        long spinUntil = 0; // no spinning before the first job: a new pool may wait a while (e.g. a TorchSharp prefill)
        while (true)
        {
            while (Volatile.Read(ref generation) == seen && !disposed)
            {
                if (Stopwatch.GetTimestamp() < spinUntil)
                {
                    Thread.SpinWait(10);
                    continue;
                }
                lock (gate)
                {
                    Interlocked.Increment(ref sleepers); // full fence: Run sees us, or we see its new generation
                    while (Volatile.Read(ref generation) == seen && !disposed) Monitor.Wait(gate);
                    Interlocked.Decrement(ref sleepers);
                }
            }
            if (disposed) return;
            seen = Volatile.Read(ref generation);
            Execute(Volatile.Read(ref current)!, worker);
            spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
        }
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        lock (gate) Monitor.PulseAll(gate);
        foreach (var thread in threads) thread.Join();
    }
}
