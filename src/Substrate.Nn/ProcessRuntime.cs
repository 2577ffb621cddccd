using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>The process-wide settings libtorch and the native allocator run with.</summary>
/// <param name="Threads">libtorch's intra-op threads; 0: one per core.</param>
/// <param name="RetainFreedMemory">Keep freed native memory for reuse (<see cref="NativeMemory.RetainFreedMemory"/>): ~20% faster
/// training steps; the process keeps its peak footprint. False (inference verbs): freed blocks go back to the kernel
/// (<see cref="NativeMemory.ReturnFreedMemory"/>), so resident memory stays near the mapped weights.</param>
public sealed record RuntimeSettings(int Threads = 0, bool RetainFreedMemory = true);

/// <summary>
/// Applies <see cref="RuntimeSettings"/> — one explicit call by the program (a CLI verb as it starts, a recipe's
/// <c>TrainingRuntime.Start</c>, a benchmark), never a side effect of building a model or parsing a flag.
/// </summary>
public static class ProcessRuntime
{
    /// <summary>The settings last applied; null before the first <see cref="Configure"/>.</summary>
    public static RuntimeSettings? Current { get; private set; }

    public static void Configure(RuntimeSettings settings)
    {
        if (settings.Threads < 0) throw new ArgumentException($"threads must be ≥ 0 (got {settings.Threads})");
        set_num_threads(settings.Threads > 0 ? settings.Threads : Environment.ProcessorCount);
        if (settings.RetainFreedMemory) NativeMemory.RetainFreedMemory();
        else NativeMemory.ReturnFreedMemory();
        Current = settings;
    }
}
