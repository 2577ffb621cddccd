namespace Substrate.Inference;

/// <summary>
/// A fixed team of threads that runs one job at a time, every member on its own share, like llama.cpp's
/// threadpool: the caller is worker 0, the others are persistent threads that spin briefly for the next job
/// and then block. One decoded token runs ~30 jobs, each a few microseconds to a few tens of them, so waking
/// threads through the .NET thread pool (Parallel.For) would cost more than the work. Not reentrant: one
/// caller at a time.
/// </summary>
internal sealed class CpuWorkerPool : IDisposable
{
    // Spin this many rounds (~20–50 µs) for the next job before blocking: jobs inside a token follow each other
    // within microseconds, while between tokens (sampling, the caller's own work) the threads may sleep.
    private const int SpinRounds = 2000;

    private readonly Thread[] threads;
    private readonly object gate = new();
    private Action<int, int>? job;   // (worker, workers)
    private int generation;          // bumped once per job; workers run each generation once
    private int pending;             // workers (other than the caller) still running the current job
    private int sleepers;            // workers blocked on `gate`
    private volatile bool disposed;
    private Exception? failure;

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

    /// <summary>Runs <paramref name="work"/>(worker, Workers) on every worker and returns when all are done.</summary>
    public void Run(Action<int, int> work)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (threads.Length == 0)
        {
            work(0, 1);
            return;
        }
        job = work;
        Volatile.Write(ref pending, threads.Length);
        Interlocked.Increment(ref generation); // full fence: job and pending are visible before the new generation
        if (Volatile.Read(ref sleepers) > 0)
            lock (gate) Monitor.PulseAll(gate);
        try { work(0, Workers); }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
        }
        if (Interlocked.Exchange(ref failure, null) is { } error)
            throw new AggregateException("a CpuDecoder worker failed", error);
    }

    private void Loop(int index)
    {
        var seen = 0;
        while (true)
        {
            for (var round = 0; Volatile.Read(ref generation) == seen && !disposed; round++)
            {
                if (round < SpinRounds)
                {
                    Thread.SpinWait(20);
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
            try { job!(index, Workers); }
            catch (Exception e) { Interlocked.CompareExchange(ref failure, e, null); }
            Interlocked.Decrement(ref pending);
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
