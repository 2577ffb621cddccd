using System.Runtime.InteropServices;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// fp16 → fp32 for the block scales through a 65,536-entry table (ggml's <c>ggml_table_f32_f16</c>): .NET 10's
/// <c>(float)Half</c> is a call into a software routine (the JIT uses F16C only in a later runtime), and a 32-value block's
/// dot product converts two scales per 32 integer products. The table holds exactly those conversions' results.
/// </summary>
internal static unsafe class CpuHalf
{
    private static readonly float* Table = Build();

    private static float* Build()
    {
        var table = (float*)NativeMemory.Alloc(65536, sizeof(float)); // 256 KB, for the process's lifetime
        for (var bits = 0; bits < 65536; bits++) table[bits] = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
        return table;
    }

    /// <summary>The fp16 at <paramref name="p"/> as fp32.</summary>
    public static float ToSingle(byte* p) => Table[*(ushort*)p];
}
