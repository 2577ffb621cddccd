using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Substrate.Bench;

/// <summary>
/// Where a process's resident memory is, for memory probes: VmRSS and VmHWM from /proc, and glibc's mallinfo2 — bytes
/// malloc hands out (in use), bytes it holds free in its heaps (fragmentation or retained staging) and bytes in blocks
/// mapped on their own — so a peak can be told apart as live tensors, malloc's leftovers or the runtime. Linux/glibc only
/// (elsewhere the malloc part is empty).
/// </summary>
static class MemoryTrace
{
    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 mallinfo2();

    /// <summary>"VmRSS … MB, VmHWM … MB, malloc in use … MB (heap … + mapped …), heap free … MB".</summary>
    public static string Line()
    {
        var memory = $"VmRSS {RealSizeEngine.Status("VmRSS") >> 20} MB, VmHWM {RealSizeEngine.Status("VmHWM") >> 20} MB";
        try
        {
            var m = mallinfo2();
            return memory + $", malloc in use {(m.Uordblks + m.Hblkhd) >> 20} MB (heap {m.Uordblks >> 20} + mapped {m.Hblkhd >> 20}), "
                + $"heap free {m.Fordblks >> 20} MB, managed {GC.GetTotalMemory(false) >> 20} MB";
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return memory;
        }
    }

    sealed class Stop(Action stop) : IDisposable
    {
        public void Dispose() => stop();
    }

    /// <summary>With $SUBSTRATE_BENCH_TRACE=sample: a line every 250 ms whose VmRSS is a new high, until disposed.</summary>
    public static IDisposable? Sample(Stopwatch clock)
    {
        if (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TRACE") != "sample") return null;
        var stop = new CancellationTokenSource();
        var thread = new Thread(() =>
        {
            long high = 0;
            while (!stop.IsCancellationRequested)
            {
                var rss = RealSizeEngine.Status("VmRSS");
                if (rss > high + (4 << 20)) { high = rss; Console.Error.WriteLine($"qlora sample {clock.Elapsed.TotalSeconds:F1} s: {Line()}"); }
                stop.Token.WaitHandle.WaitOne(250);
            }
        }) { IsBackground = true };
        thread.Start();
        return new Stop(() => { stop.Cancel(); thread.Join(); stop.Dispose(); });
    }
}
