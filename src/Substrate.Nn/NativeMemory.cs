using System.Runtime.InteropServices;

namespace Substrate.Nn;

/// <summary>
/// glibc's malloc hands every allocation above 32 MB (and, until its threshold adapts, above 128 KB)
/// straight back to the kernel on free, so each training step pays page faults again for its largest
/// tensors — the (B·T, V) logits and their gradients. Measured on bench-12m at 8 × 256 (one core, bf16):
/// a 67 MB fp32 cast takes 27 ms fresh vs 2.5 ms into reused memory, and forward+backward drops from
/// ~780 to ~630 ms CPU. <see cref="RetainFreedMemory"/> tells malloc to serve everything from its heap
/// and never trim it: the process keeps its peak footprint and reuses it. Linux/glibc only; elsewhere
/// (or on another libc) it does nothing.
/// </summary>
public static class NativeMemory
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_MAX = -4;
    private static int applied;

    /// <summary>Applies the policy once per process; returns whether malloc accepted it.</summary>
    public static bool RetainFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (Interlocked.Exchange(ref applied, 1) == 1) return true;
        try
        {
            return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl)
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
