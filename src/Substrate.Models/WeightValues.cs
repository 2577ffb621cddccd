using System.Numerics;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Substrate.Models;

/// <summary>Checks on a weight tensor's raw values, read in place (a mapped tensor is not copied to be checked).</summary>
internal static class WeightValues
{
    /// <summary>How many elements are NaN or infinite (every exponent bit set), for fp32, bf16 and fp16 tensors.</summary>
    public static long CountNonFinite(Tensor t) => t.dtype switch
    {
        ScalarType.Float32 => Count<uint>(t.bytes, 0x7F80_0000u),
        ScalarType.BFloat16 => Count<ushort>(t.bytes, (ushort)0x7F80),
        ScalarType.Float16 => Count<ushort>(t.bytes, (ushort)0x7C00),
        var other => throw new NotSupportedException($"weights in {other}"),
    };

    private static long Count<T>(ReadOnlySpan<byte> bytes, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        var values = MemoryMarshal.Cast<byte, T>(bytes);
        var mask = new Vector<T>(exponent);
        long count = 0;
        var i = 0;
        for (; i <= values.Length - Vector<T>.Count; i += Vector<T>.Count)
            if (Vector.EqualsAny(new Vector<T>(values[i..]) & mask, mask)) count += CountScalar(values.Slice(i, Vector<T>.Count), exponent);
        return count + CountScalar(values[i..], exponent);
    }

    private static long CountScalar<T>(ReadOnlySpan<T> values, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        long count = 0;
        foreach (var v in values) if ((v & exponent) == exponent) count++;
        return count;
    }
}
