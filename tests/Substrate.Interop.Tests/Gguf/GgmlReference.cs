using System.Runtime.InteropServices;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// ggml's own reference block code — quantize_row_*_ref and dequantize_row_* — called in the libggml-base that LLamaSharp
/// 0.30.0 loads (the library llama.cpp itself quantizes and dequantizes with).
/// </summary>
internal static unsafe class GgmlReference
{
    private static readonly Lazy<nint> Library = new(() =>
    {
        LlamaCpp.EnsureLoaded(); // LLamaSharp picks and loads its native libraries, libggml-base among them
        return NativeLibrary.Load("libggml-base.so");
    });

    private static readonly Lazy<nint> CpuLibrary = new(() =>
    {
        LlamaCpp.EnsureLoaded(); // the CPU backend LLamaSharp picked for this machine (avx2, avx512 …)
        return NativeLibrary.Load("libggml-cpu.so");
    });

    /// <summary>ggml-cpu's <c>quantize_row_{type}</c>: the activation quantizer llama.cpp's matrix products use (SIMD, not _ref).</summary>
    public static byte[] QuantizeActivations(string type, ReadOnlySpan<float> x, int bytes) =>
        Quantize(CpuLibrary.Value, $"quantize_row_{type}", x, bytes);

    /// <summary>ggml-cpu's <c>ggml_vec_dot_{types}</c> (e.g. q8_0_q8_0) of one row of <paramref name="n"/> elements.</summary>
    public static float VecDot(string types, int n, ReadOnlySpan<byte> row, ReadOnlySpan<byte> activations)
    {
        var fn = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)NativeLibrary.GetExport(
            CpuLibrary.Value, $"ggml_vec_dot_{types}");
        float s;
        fixed (byte* px = row)
        fixed (byte* py = activations) fn(n, &s, 0, px, 0, py, 0, 1);
        return s;
    }

    public static byte[] Quantize(string type, ReadOnlySpan<float> x, int bytes) => Quantize(Library.Value, $"quantize_row_{type}_ref", x, bytes);

    private static byte[] Quantize(nint library, string symbol, ReadOnlySpan<float> x, int bytes)
    {
        var fn = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(library, symbol);
        var output = new byte[bytes];
        fixed (float* px = x)
        fixed (byte* py = output) fn(px, py, x.Length);
        return output;
    }

    public static float[] Dequantize(string type, ReadOnlySpan<byte> blocks, int count)
    {
        var fn = (delegate* unmanaged<byte*, float*, long, void>)NativeLibrary.GetExport(Library.Value, $"dequantize_row_{type}");
        var output = new float[count];
        fixed (byte* px = blocks)
        fixed (float* py = output) fn(px, py, count);
        return output;
    }
}
