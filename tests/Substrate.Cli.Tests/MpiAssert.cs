using Substrate.Models;
using Substrate.Training;
using static TorchSharp.torch;

namespace Substrate.Cli.Tests;

/// <summary>What the MPI tests compare: two runs' metrics lines, two weight files, and the moment floats each rank kept (the log's).</summary>
public static class MpiAssert
{
    /// <summary>The same lines (steps, and which hold a loss, validation loss, gradient norm), each value within <paramref name="tolerance"/>.</summary>
    public static void Close(List<MetricRecord> expected, List<MetricRecord> actual, double tolerance)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Step, actual[i].Step);
            foreach (var (a, b) in new[] { (expected[i].Loss, actual[i].Loss), (expected[i].ValidationLoss, actual[i].ValidationLoss),
                (expected[i].GradNorm, actual[i].GradNorm) })
            {
                Assert.Equal(a is null, b is null);
                if (a is double x) Assert.True(Math.Abs(x - b!.Value) <= tolerance, $"line {i}: {x} vs {b} (step {expected[i].Step})");
            }
        }
    }

    /// <summary>The largest |difference| over every tensor of two safetensors files (the same names in both).</summary>
    public static double WeightDifference(string a, string b)
    {
        using var scope = NewDisposeScope();
        using var x = new SafetensorsReader(a);
        using var y = new SafetensorsReader(b);
        Assert.Equal(x.Entries.Select(e => e.Name).Order(), y.Entries.Select(e => e.Name).Order());
        return x.Entries.Max(e => (x.Read(e.Name) - y.Read(e.Name)).abs().max().item<float>());
    }

    /// <summary>ZeRO-1's point: each of the 2 ranks keeps half of the 2 moment floats per trained weight (⌈P/2⌉ weights at most), so
    /// the optimizer memory per rank cannot silently grow back to the whole; <paramref name="atLeast"/>: the run's 2 × P, roughly.</summary>
    public static void HalfOfTheMomentsPerRank(string log, long atLeast)
    {
        var match = System.Text.RegularExpressions.Regex.Match(log, @"moment floats per rank (\d+) \+ (\d+) of (\d+) ");
        Assert.True(match.Success, log);
        long first = long.Parse(match.Groups[1].Value), second = long.Parse(match.Groups[2].Value), whole = long.Parse(match.Groups[3].Value);
        Assert.True(whole >= atLeast, $"{whole} moment floats");
        Assert.Equal(whole, first + second);
        Assert.InRange(first, whole / 2, whole / 2 + 2); // rank 0 owns ⌈P/2⌉ weights, rank 1 the rest
        Assert.Matches(@"peak RSS per rank \d+ / \d+ MB", log);
    }
}
