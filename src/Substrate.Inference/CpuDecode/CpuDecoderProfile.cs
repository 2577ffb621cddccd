using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Where the batched forward's time goes, for profiling a prefill: wall time per job of <see cref="CpuDecoder.Forward"/>
/// (each product named with its weight's block type, attention, the row preparation), summed over calls while
/// $SUBSTRATE_CPU_PROFILE is 1. Off by default: then a job costs one static bool read.
/// </summary>
public static class CpuDecoderProfile
{
    /// <summary>Whether jobs are timed ($SUBSTRATE_CPU_PROFILE=1 at start, or set by a bench).</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("SUBSTRATE_CPU_PROFILE") == "1";

    private static readonly ConcurrentDictionary<string, (long Ticks, long Calls)> Jobs = new();

    internal static void Add(string job, long startTimestamp)
    {
        var ticks = Stopwatch.GetTimestamp() - startTimestamp;
        Jobs.AddOrUpdate(job, (ticks, 1), (_, t) => (t.Ticks + ticks, t.Calls + 1));
    }

    public static void Reset() => Jobs.Clear();

    /// <summary>One line per job, the slowest first: milliseconds, share of the timed total, calls.</summary>
    public static string Report()
    {
        var total = Jobs.Values.Sum(j => j.Ticks);
        var text = new StringBuilder();
        foreach (var (job, (ticks, calls)) in Jobs.OrderByDescending(j => j.Value.Ticks))
            text.AppendLine($"{job,-28} {ticks * 1000.0 / Stopwatch.Frequency,9:0.0} ms {100.0 * ticks / Math.Max(1, total),5:0.0}% {calls,6} calls");
        text.Append($"{"total",-28} {total * 1000.0 / Stopwatch.Frequency,9:0.0} ms");
        return text.ToString();
    }
}
