namespace Substrate.Models;

/// <summary>
/// Refuses, before a byte is allocated, a model whose weights cannot fit this machine's memory: a config.json with
/// <c>num_hidden_layers</c> 10⁹ would otherwise grow until the machine swaps or the allocator dies with native frames.
/// </summary>
public static class ModelMemory
{
    /// <summary>Bytes the model's parameters take while it is built — fp32 (4 bytes a parameter) when they are initialized,
    /// whatever dtype they are converted to afterwards; their stored dtype's size when a loader fills them — (long.MaxValue
    /// when the count overflows).</summary>
    public static long WeightBytes(ModelConfig config, int bytesPerParameter = 4)
    {
        try { return checked(ModelLayout.ParameterCount(config) * bytesPerParameter); }
        catch (OverflowException) { return long.MaxValue; }
    }

    /// <summary>Memory the process may still take: MemAvailable from /proc/meminfo where there is one, else what the
    /// runtime reports as the machine's (or container's) memory.</summary>
    public static long AvailableBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>Throws <see cref="InsufficientMemoryException"/> (one line: needed vs available) when the weights cannot fit.</summary>
    public static void EnsureFits(ModelConfig config, int bytesPerParameter = 4)
    {
        long needed = WeightBytes(config, bytesPerParameter), available = AvailableBytes();
        if (needed > available)
            throw new InsufficientMemoryException(
                $"the model needs {Describe(needed)} for its weights ({config.NumHiddenLayers} layers, hidden_size {config.HiddenSize}, " +
                $"vocab_size {config.VocabSize}); {Describe(available)} of memory is available");
    }

    public static string Describe(long bytes) => bytes == long.MaxValue ? "more than 8 EiB" : $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB";
}
