using System.Runtime.Intrinsics;

namespace Substrate.Nn.Kernels;

/// <summary>
/// bf16 ↔ fp32 on raw bits, as libtorch converts: widening is exact (bits &lt;&lt; 16); narrowing rounds to
/// nearest even and turns every NaN into 0xFFFF, as libtorch's vectorized conversion does. Vectorized 8 or 16 lanes at a time.
/// </summary>
public static unsafe class BFloat16Bits
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromSingle(float value)
    {
        if (float.IsNaN(value)) return 0xFFFF;
        uint u = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    /// <summary>8 bf16 → 8 fp32.</summary>
    public static Vector256<float> Load8(ushort* p) =>
        Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load(p).AsUInt16().ToVector256()), 16).AsSingle();

    /// <summary>8 fp32 → 8 bf16, rounded to nearest even (NaN → 0xFFFF).</summary>
    public static void Store8(Vector256<float> v, ushort* p)
    {
        var u = v.AsUInt32();
        var rounded = (u + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(u, 16) & Vector256.Create(1u))) >> 16;
        var nan = ~Vector256.Equals(v, v).AsUInt32(); // all ones where v is NaN
        rounded = Vector256.ConditionalSelect(nan, Vector256.Create(0xFFFFu), rounded);
        Vector128.Narrow(rounded.GetLower(), rounded.GetUpper()).Store(p);
    }

    /// <summary>16 bf16 → 16 fp32.</summary>
    public static Vector512<float> Load16(ushort* p) =>
        Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(p).ToVector512()), 16).AsSingle();

    /// <summary>16 fp32 → 16 bf16, as <see cref="Store8"/>.</summary>
    public static void Store16(Vector512<float> v, ushort* p)
    {
        var u = v.AsUInt32();
        var rounded = (u + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(u, 16) & Vector512.Create(1u))) >> 16;
        var nan = ~Vector512.Equals(v, v).AsUInt32();
        rounded = Vector512.ConditionalSelect(nan, Vector512.Create(0xFFFFu), rounded);
        Vector256.Narrow(rounded.GetLower(), rounded.GetUpper()).Store(p);
    }

    /// <summary>n bf16 → n fp32.</summary>
    public static void Widen(ushort* source, float* target, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) Load16(source + i).Store(target + i);
        for (; i + 8 <= n; i += 8) Load8(source + i).Store(target + i);
        for (; i < n; i++) target[i] = ToSingle(source[i]);
    }

    /// <summary>n fp32 → n bf16, rounded as <see cref="FromSingle"/>.</summary>
    public static void Narrow(float* source, ushort* target, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) Store16(Vector512.Load(source + i), target + i);
        for (; i + 8 <= n; i += 8) Store8(Vector256.Load(source + i), target + i);
        for (; i < n; i++) target[i] = FromSingle(source[i]);
    }
}
