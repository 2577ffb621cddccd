namespace Substrate.Bench;

/// <summary>Name → benchmark. Each writes JSON lines to stdout.</summary>
public static class BenchmarkTable
{
    public static readonly IReadOnlyDictionary<string, Action> All = new Dictionary<string, Action>
    {
        ["matmul-peak"] = MatmulPeakBenchmark.Run,
        ["decode"] = DecodeBenchmark.Run,
        ["forward-backward"] = ForwardBackwardBenchmark.Run,
    };
}
