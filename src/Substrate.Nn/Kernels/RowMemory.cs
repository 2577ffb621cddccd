using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace Substrate.Nn.Kernels;

/// <summary>A contiguous fp32 or bf16 CPU tensor read and written as fp32, 16 or 8 lanes or one element at a time
/// (bf16 rounded as <see cref="BFloat16Bits"/>). Valid while the tensor lives.</summary>
public readonly unsafe struct RowMemory
{
    readonly float* f;
    readonly ushort* b;

    public RowMemory(Tensor t)
    {
        if (t.dtype == ScalarType.BFloat16) b = TensorMemory.BFloat16s(t); else f = TensorMemory.Floats(t);
    }

    public Vector256<float> Load8(long i) => b != null ? BFloat16Bits.Load8(b + i) : Vector256.Load(f + i);

    public void Store8(Vector256<float> v, long i)
    {
        if (b != null) BFloat16Bits.Store8(v, b + i); else v.Store(f + i);
    }

    public Vector512<float> Load16(long i) => b != null ? BFloat16Bits.Load16(b + i) : Vector512.Load(f + i);

    public void Store16(Vector512<float> v, long i)
    {
        if (b != null) BFloat16Bits.Store16(v, b + i); else v.Store(f + i);
    }

    /// <summary>Elements [start, start + count) into an fp32 buffer.</summary>
    public void Read(long start, float* target, int count)
    {
        if (b != null) BFloat16Bits.Widen(b + start, target, count);
        else Buffer.MemoryCopy(f + start, target, count * sizeof(float), count * sizeof(float));
    }

    /// <summary>An fp32 buffer into elements [start, start + count), rounded as <see cref="BFloat16Bits"/> for bf16.</summary>
    public void Write(float* source, long start, int count)
    {
        if (b != null) BFloat16Bits.Narrow(source, b + start, count);
        else Buffer.MemoryCopy(source, f + start, count * sizeof(float), count * sizeof(float));
    }

    /// <summary>Zeroes elements [start, start + count).</summary>
    public void Clear(long start, int count)
    {
        if (b != null) new Span<ushort>(b + start, count).Clear(); else new Span<float>(f + start, count).Clear();
    }

    public float this[long i]
    {
        get => b != null ? BFloat16Bits.ToSingle(b[i]) : f[i];
        set { if (b != null) b[i] = BFloat16Bits.FromSingle(value); else f[i] = value; }
    }
}
