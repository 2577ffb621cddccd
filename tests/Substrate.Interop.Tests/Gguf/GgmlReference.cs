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

    public static byte[] Quantize(string type, ReadOnlySpan<float> x, int bytes)
    {
        var fn = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(Library.Value, $"quantize_row_{type}_ref");
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
