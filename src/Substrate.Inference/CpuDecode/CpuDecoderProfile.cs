using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Where the batched forward's time goes, for profiling a prefill: wall time per job of <see cref="CpuDecoder.Forward"/>
/// (each product named with its weight's block type, attention, the row preparation) and the process's CPU time in it
/// (all workers; on a busy machine wall time includes waiting for a core, CPU time does not), summed over calls while
/// $SUBSTRATE_CPU_PROFILE is 1. Off by default: then a job costs one static bool read.
/// </summary>
public static class CpuDecoderProfile
{
    /// <summary>Whether jobs are timed ($SUBSTRATE_CPU_PROFILE=1 at start, or set by a bench).</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("SUBSTRATE_CPU_PROFILE") == "1";

    private static readonly ConcurrentDictionary<string, (long Ticks, TimeSpan Cpu, long Calls)> Jobs = new();

    /// <summary>The clocks a job starts at: wall timestamp and process CPU time.</summary>
    internal static (long Wall, TimeSpan Cpu) Start() => (Stopwatch.GetTimestamp(), Process.GetCurrentProcess().TotalProcessorTime);

    internal static void Add(string job, (long Wall, TimeSpan Cpu) start)
    {
        var (ticks, cpu) = (Stopwatch.GetTimestamp() - start.Wall, Process.GetCurrentProcess().TotalProcessorTime - start.Cpu);
        Jobs.AddOrUpdate(job, (ticks, cpu, 1), (_, t) => (t.Ticks + ticks, t.Cpu + cpu, t.Calls + 1));
    }

    public static void Reset() => Jobs.Clear();

    /// <summary>One line per job, the slowest first: wall milliseconds, share of the timed total, CPU milliseconds, calls.</summary>
    public static string Report()
    {
        var total = Jobs.Values.Sum(j => j.Ticks);
        var text = new StringBuilder();
        foreach (var (job, (ticks, cpu, calls)) in Jobs.OrderByDescending(j => j.Value.Ticks))
            text.AppendLine($"{job,-28} {ticks * 1000.0 / Stopwatch.Frequency,9:0.0} ms {100.0 * ticks / Math.Max(1, total),5:0.0}% "
                + $"cpu {cpu.TotalMilliseconds,9:0.0} ms {calls,6} calls");
        text.Append($"{"total",-28} {total * 1000.0 / Stopwatch.Frequency,9:0.0} ms     cpu {Jobs.Values.Sum(j => j.Cpu.TotalMilliseconds),9:0.0} ms");
        return text.ToString();
    }
}
