using System.Runtime.InteropServices;

namespace Substrate.Nn;

/// <summary>
/// glibc's malloc hands every allocation above 32 MB (and, until its threshold adapts, above 128 KB)
/// straight back to the kernel on free, so each training step pays page faults again for its largest
/// tensors — the (B·T, V) logits and their gradients. Measured on bench-12m at 8 × 256 (one core, bf16):
/// a 67 MB fp32 cast takes 27 ms fresh vs 2.5 ms into reused memory, and forward+backward drops from
/// ~780 to ~630 ms CPU. <see cref="RetainFreedMemory"/> tells malloc to serve everything from its heap
/// and never trim it: the process keeps its peak footprint and reuses it — right for training's repeated
/// steps. <see cref="ReturnFreedMemory"/> is the inference policy: a prefill's intermediates are allocated
/// once per request and would otherwise stay resident beside the mapped weights, so every block from
/// 256 KB up is mapped on its own and unmapped when freed. Linux/glibc only; elsewhere (or on another
/// libc) both do nothing. The last call wins.
/// </summary>
public static class NativeMemory
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3, M_MMAP_MAX = -4;
    private const int OwnMappingFrom = 256 << 10, TrimFrom = 1 << 20;

    /// <summary>Training's policy: freed memory stays with malloc for reuse; returns whether malloc accepted it.</summary>
    public static bool RetainFreedMemory() => Apply((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, int.MaxValue));

    /// <summary>Inference's policy: blocks of 256 KB and more are mapped on their own and go back to the kernel when freed
    /// (a fixed threshold: glibc's adaptive one would climb to 32 MB after the first free); the heap's top is trimmed past 1 MB.</summary>
    public static bool ReturnFreedMemory() =>
        Apply((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, OwnMappingFrom), (M_TRIM_THRESHOLD, TrimFrom));

    private static bool Apply(params (int Param, int Value)[] settings)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return settings.All(s => mallopt(s.Param, s.Value) == 1);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl)
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
