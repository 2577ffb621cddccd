using Substrate.Nn.Ggml;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Substrate.Inference.CpuDecode;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// A <see cref="CpuDecoder"/> over a GGUF file mapped into memory: F32, F16, BF16 and the block types Q4_0, Q4_1, Q5_0,
/// Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K are read where they lie in the file (the quantized blocks are multiplied in
/// place, never widened to a full-precision copy, so resident memory is about the file's size plus the KV cache); tensors
/// of any other type are decoded once to fp32 native memory, as ggml decodes them. llama-arch q/k rows stay in
/// ggml's interleaved rotary order — the decoder reorders each computed head instead of the weights.
/// </summary>
public static class GgufCpuDecoder
{
    /// <summary>Maps <paramref name="path"/> and builds the decoder; the decoder unmaps the file when disposed.</summary>
    /// <param name="slots">KV-cache rows, one per sequence served together (<see cref="CpuDecoder.Forward"/>).</param>
    public static CpuDecoder Open(string path, int? maxLength = null, int? threads = null, int slots = 1)
    {
        using var reader = new GgufReader(path);
        return Open(reader, maxLength, threads, slots);
    }

    /// <summary>Builds the decoder over the file <paramref name="reader"/> has checked; the reader may be disposed after.
    /// A file that has shrunk since the reader checked it is refused (the tensors' offsets would point past the mapping).</summary>
    public static CpuDecoder Open(GgufReader reader, int? maxLength = null, int? threads = null, int slots = 1)
    {
        var config = GgufImporter.ReadConfig(reader);
        var arch = GgufArchitecture.For(config);
        var file = new MappedGguf(reader, arch);
        try
        {
            return new CpuDecoder(config, file.Tensor, arch.PermuteQk, file, maxLength, threads, slots);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The file's bytes mapped read-only (the reader is used while the decoder is built, not after), and the
    /// decoded copies of tensors the decoder cannot read as stored.</summary>
    private sealed unsafe class MappedGguf : IDisposable
    {
        private readonly GgufReader reader;
        private readonly GgufArchitecture arch;
        private readonly Dictionary<string, CpuDecoderTensor> copies = new(StringComparer.Ordinal); // decoded once: an expert stack is asked for E times
        private readonly MemoryMappedFile map;
        private readonly MemoryMappedViewAccessor view;
        private readonly byte* data; // the start of the data section
        private readonly List<nint> decoded = [];
        private bool disposed;

        public MappedGguf(GgufReader reader, GgufArchitecture arch)
        {
            (this.reader, this.arch) = (reader, arch);
            map = MemoryMappedFile.CreateFromFile(reader.Path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            if (view.Capacity < reader.FileLength)
            {
                var mapped = view.Capacity;
                view.Dispose();
                map.Dispose();
                throw new InvalidDataException($"{reader.Path}: the file is {mapped} bytes now, {reader.FileLength} when its header was checked");
            }
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            data = start + view.PointerOffset + reader.DataOffset;
        }

        /// <summary>The tensor that HF parameter <paramref name="hfName"/> names.</summary>
        public CpuDecoderTensor Tensor(string hfName)
        {
            var name = arch.ToGguf(hfName) ?? throw new ArgumentException($"{hfName} has no GGUF name", nameof(hfName));
            if (!reader.Contains(name)) throw new InvalidDataException($"{reader.Path}: tensor '{name}' is missing");
            var info = reader.Tensor(name);
            WeightFormat? format = info.Type switch
            {
                GgmlType.F32 => WeightFormat.Float32,
                GgmlType.F16 => WeightFormat.Float16,
                GgmlType.BF16 => WeightFormat.BFloat16,
                GgmlType.Q8_0 => WeightFormat.Q8_0,
                GgmlType.Q4_K => WeightFormat.Q4_K,
                GgmlType.Q6_K => WeightFormat.Q6_K,
                GgmlType.Q4_0 => WeightFormat.Q4_0,
                GgmlType.Q4_1 => WeightFormat.Q4_1,
                GgmlType.Q5_0 => WeightFormat.Q5_0,
                GgmlType.Q5_1 => WeightFormat.Q5_1,
                GgmlType.Q2_K => WeightFormat.Q2_K,
                GgmlType.Q3_K => WeightFormat.Q3_K,
                GgmlType.Q5_K => WeightFormat.Q5_K,
                _ => null,
            };
            if (format is { } f) return new CpuDecoderTensor((nint)(data + info.Offset), f, info.Shape);
            if (copies.TryGetValue(name, out var copied)) return copied;
            var values = reader.ReadFloats(info); // decoded as ggml decodes it
            var copy = (float*)NativeMemory.Alloc((nuint)values.Length, sizeof(float));
            decoded.Add((nint)copy);
            values.CopyTo(new Span<float>(copy, values.Length));
            return copies[name] = new CpuDecoderTensor((nint)copy, WeightFormat.Float32, info.Shape);
        }

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            foreach (var p in decoded) NativeMemory.Free((void*)p);
            decoded.Clear();
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
        }
    }
}
