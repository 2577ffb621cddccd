using Substrate.Bench;

// Each benchmark prints one JSON object per line on stdout; progress goes to stderr.
// Usage: substrate-bench [name ...]   (no names: run them all)
// The runtime substrate's commands run with: one libtorch thread per core; freed native memory kept for reuse (training),
// returned to the system (inference verbs, as the child of real-size-vs-llamacpp runs; $SUBSTRATE_BENCH_MALLOC=retain keeps it).
var inference = args is [RealSizeEngine.Verb, ..] && Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_MALLOC") != "retain";
Substrate.Nn.ProcessRuntime.Configure(new Substrate.Nn.RuntimeSettings(RetainFreedMemory: !inference));
if (args is [RealSizeEngine.Verb, .. var engineArgs]) return RealSizeEngine.Run(engineArgs); // a child of real-size-vs-llamacpp
if (args is [QloraBenchmark.Verb, .. var qloraArgs]) return QloraBenchmark.RunChild(qloraArgs); // a child of qlora
var benchmarks = BenchmarkTable.All;
var chosen = args.Length == 0 ? benchmarks.Keys.ToArray() : args;
foreach (var name in chosen)
{
    if (!benchmarks.TryGetValue(name, out var run))
    {
        Console.Error.WriteLine($"error: unknown benchmark '{name}'; known: {string.Join(", ", benchmarks.Keys)}");
        return 2;
    }
    run();
}
return 0;
