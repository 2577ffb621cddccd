using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Substrate.Nn.Kernels;

/// <summary>
/// Runs the hand-written kernels' chunks on libtorch's own OpenMP threads (GOMP_parallel of the libgomp libtorch
/// loaded), instead of .NET's thread pool. After each parallel op libtorch's OpenMP workers spin for a while waiting
/// for the next one; a .NET worker woken in that window waits for the spinning thread's time slice on the same core,
/// so a kernel between two libtorch ops ran about as slowly as on one thread (bench-12m step: ~150 ms of kernel
/// time for ~40 ms of work). Handing the chunks to the spinning team uses it instead of fighting it.
/// Where libgomp is not found (another OpenMP runtime, another OS) <see cref="TryFor"/> returns false and callers
/// use Parallel.For.
/// </summary>
public static unsafe class OpenMpTeam
{
    static readonly delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void> parallel;

    static OpenMpTeam()
    {
        // libtorch ships its own libgomp (a hashed file name); it is loaded once TorchSharp has initialized.
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        var path = LoadedLibgomp();
        if (path is not null && NativeLibrary.TryLoad(path, out var library) && NativeLibrary.TryGetExport(library, "GOMP_parallel", out var entry))
            parallel = (delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void>)entry;
    }

    /// <summary>Runs body(chunk) for chunk = 0 … chunks−1 across <paramref name="threads"/> OpenMP threads, each claiming
    /// the next chunk in turn; the caller is one of them. False (nothing run) where libgomp is unavailable.</summary>
    public static bool TryFor(int chunks, int threads, Action<int> body)
    {
        if (parallel == null) return false;
        var job = new Job(body, chunks);
        var handle = GCHandle.Alloc(job);
        try { parallel(&RunChunks, GCHandle.ToIntPtr(handle), (uint)Math.Max(1, Math.Min(threads, chunks)), 0); }
        finally { handle.Free(); }
        if (job.Error is { } error) ExceptionDispatchInfo.Throw(error);
        return true;
    }

    [UnmanagedCallersOnly]
    static void RunChunks(nint data)
    {
        var job = (Job)GCHandle.FromIntPtr(data).Target!;
        try
        {
            for (int chunk = Interlocked.Increment(ref job.Next) - 1; chunk < job.Chunks; chunk = Interlocked.Increment(ref job.Next) - 1)
                job.Body(chunk);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref job.Error, e, null); // an exception must not cross into native code; the caller rethrows it
            job.Next = job.Chunks;
        }
    }

    static string? LoadedLibgomp()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/maps")) return null;
        var mapped = File.ReadLines("/proc/self/maps").Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 6).Select(fields => fields[5]).Where(p => Path.GetFileName(p).StartsWith("libgomp")).Distinct().ToList();
        // libtorch's copy (libgomp-<hash>.so.1) before the system's, which llama.cpp may have loaded too
        return mapped.FirstOrDefault(p => Path.GetFileName(p).StartsWith("libgomp-")) ?? mapped.FirstOrDefault();
    }

    sealed class Job(Action<int> body, int chunks)
    {
        public readonly Action<int> Body = body;
        public readonly int Chunks = chunks;
        public int Next;
        public Exception? Error;
    }
}
