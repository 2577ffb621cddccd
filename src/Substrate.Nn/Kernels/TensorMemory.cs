using static TorchSharp.torch;

namespace Substrate.Nn.Kernels;

/// <summary>Raw pointers into a CPU tensor's native storage, for the hand-written kernels. The pointer is
/// valid while the tensor lives (native memory does not move); callers check dtype and contiguity first.</summary>
public static unsafe class TensorMemory
{
    public static float* Floats(Tensor t)
    {
        Check(t, ScalarType.Float32);
        fixed (byte* b = t.bytes) return (float*)b;
    }

    /// <summary>bf16 storage as raw 16-bit patterns (the upper half of an fp32).</summary>
    public static ushort* BFloat16s(Tensor t)
    {
        Check(t, ScalarType.BFloat16);
        fixed (byte* b = t.bytes) return (ushort*)b;
    }

    static void Check(Tensor t, ScalarType dtype)
    {
        if (t.dtype != dtype || t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException(
                $"expected a contiguous CPU {dtype} tensor, got {t.dtype} on {t.device_type}{(t.is_contiguous() ? "" : ", not contiguous")}");
    }
}
