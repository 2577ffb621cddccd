using Substrate.Nn.Ggml;
using Substrate.IO;
using System.Buffers.Binary;
using System.Text;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Builds a GGUF v3 file: metadata in the order added, then tensor infos, then the data section, each
/// tensor padded to <see cref="Alignment"/> bytes (<c>general.alignment</c> is written too). Tensors are
/// encoded (quantized) when added, so memory holds the output size, not float copies.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValue Value)> metadata = [];
    private readonly List<(string Name, long[] Dims, GgmlType Type, byte[] Data)> tensors = [];

    public GgufWriter(int alignment = GgufReader.DefaultAlignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentException($"alignment {alignment} is not a power of two", nameof(alignment));
        Alignment = alignment;
        Add("general.alignment", GgufValue.UInt32((uint)alignment));
    }

    public int Alignment { get; }

    public void Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (metadata.Any(m => m.Key == key)) throw new ArgumentException($"metadata key '{key}' is already set", nameof(key));
        metadata.Add((key, value));
    }

    public void Add(string key, string value) => Add(key, GgufValue.String(value));
    public void Add(string key, uint value) => Add(key, GgufValue.UInt32(value));
    public void Add(string key, float value) => Add(key, GgufValue.Float32(value));
    public void Add(string key, bool value) => Add(key, GgufValue.Bool(value));

    /// <summary>Adds a tensor of <paramref name="shape"/> (row-major, PyTorch order) encoded as <paramref name="type"/>.</summary>
    public void AddTensor(string name, long[] shape, ReadOnlySpan<float> values, GgmlType type)
    {
        var dims = CheckShape(name, shape, type, values.Length);
        tensors.Add((name, dims, type, GgmlQuant.Encode(values, type)));
    }

    /// <summary>Adds a tensor's bytes as they are already encoded in <paramref name="type"/> (e.g. copied from another GGUF).</summary>
    public void AddTensorBytes(string name, long[] shape, GgmlType type, byte[] data)
    {
        var count = shape.Aggregate(1L, (a, d) => a * d);
        var dims = CheckShape(name, shape, type, count);
        if (data.Length != GgmlQuant.ByteCount(type, count))
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes do not hold {count} {type} elements");
        tensors.Add((name, dims, type, data));
    }

    private long[] CheckShape(string name, long[] shape, GgmlType type, long count)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Encoding.UTF8.GetByteCount(name) >= GgufReader.MaxNameBytes)
            throw new ArgumentException($"tensor name '{name}' is {GgufReader.MaxNameBytes} bytes or longer");
        if (tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' is already added");
        if (shape.Length is 0 or > GgufReader.MaxDims || shape.Any(d => d <= 0))
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] must have 1 to {GgufReader.MaxDims} positive dimensions");
        if (shape.Aggregate(1L, (a, d) => a * d) != count)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] does not hold {count} values");
        var dims = shape.Reverse().ToArray(); // ggml order: innermost first
        var block = (GgmlTypes.Layout(type) ?? throw new NotSupportedException($"ggml type {type}")).BlockSize;
        if (dims[0] % block != 0) throw new ArgumentException($"tensor '{name}': rows of {dims[0]} are not whole {type} blocks of {block}");
        return dims;
    }

    /// <summary>Writes the file atomically (a temporary file beside it, then renamed over it).</summary>
    public void Write(string path) => AtomicFile.Write(path, Write);

    public void Write(Stream output)
    {
        var header = new MemoryStream();
        var w = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufReader.Magic);
        w.Write(3u);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)metadata.Count);
        foreach (var (key, value) in metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        var offsets = new long[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, dims, type, data) = tensors[i];
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = GgufReader.AlignUp(offset + data.Length, Alignment);
        }
        w.Flush();
        Pad(header, header.Length);
        header.Position = 0;
        header.CopyTo(output);
        for (int i = 0; i < tensors.Count; i++)
        {
            output.Write(tensors[i].Data);
            Pad(output, offsets[i] + tensors[i].Data.Length); // llama.cpp reads each tensor's padded size
        }
    }

    private void Pad(Stream s, long position)
    {
        var n = GgufReader.AlignUp(position, Alignment) - position;
        for (long i = 0; i < n; i++) s.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue value)
    {
        switch (value.Value)
        {
            case string s: WriteString(w, s); break;
            case Array items when value.Type == GgufValueType.Array:
                w.Write((uint)value.ElementType);
                w.Write((ulong)items.Length);
                foreach (var item in items) WriteScalar(w, item);
                break;
            default: WriteScalar(w, value.Value); break;
        }
    }

    private static void WriteScalar(BinaryWriter w, object v)
    {
        switch (v)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            default: throw new NotSupportedException($"cannot write a {v.GetType().Name} as a GGUF value");
        }
    }
}
