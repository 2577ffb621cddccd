using Substrate.Nn.Ggml;
using System.Buffers.Binary;
using System.Text;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Reads a GGUF file (versions 2 and 3, little-endian): header, typed metadata, tensor infos, and tensor
/// data on demand. Nothing in the file is trusted: every count, length, shape and offset is checked
/// against the bytes actually present before anything is allocated, so a corrupt or hostile file ends in
/// one <see cref="InvalidDataException"/> naming the file and the problem — never a crash or a huge allocation.
/// </summary>
public sealed class GgufReader : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const int DefaultAlignment = 32;
    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDims = 4;
    /// <summary>ggml's GGML_MAX_NAME: tensor names are shorter than this (bytes).</summary>
    public const int MaxNameBytes = 64;

    private readonly FileStream stream;
    private readonly Dictionary<string, GgufValue> metadata = new(StringComparer.Ordinal);
    private readonly List<string> keys = [];
    private readonly Dictionary<string, GgufTensorInfo> byName = new(StringComparer.Ordinal);
    private readonly List<GgufTensorInfo> tensors = [];

    public GgufReader(string path)
    {
        Path = path;
        stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            FileLength = stream.Length;
            ReadHeader();
        }
        catch (Exception e) when (e is EndOfStreamException or OverflowException or ArgumentException)
        {
            stream.Dispose();
            throw Invalid($"malformed header ({e.Message})", e);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public string Path { get; }
    public long FileLength { get; }
    public uint Version { get; private set; }
    public int Alignment { get; private set; } = DefaultAlignment;
    /// <summary>Absolute file offset of the data section.</summary>
    public long DataOffset { get; private set; }

    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> Keys => keys;
    public IReadOnlyDictionary<string, GgufValue> Metadata => metadata;
    /// <summary>Tensor infos in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => tensors;

    public bool Contains(string tensorName) => byName.ContainsKey(tensorName);

    public GgufTensorInfo Tensor(string name) =>
        byName.TryGetValue(name, out var t) ? t : throw Invalid($"no tensor '{name}'");

    public GgufValue? Get(string key) => metadata.TryGetValue(key, out var v) ? v : null;

    /// <summary>The value of a required key; missing → InvalidDataException naming the key.</summary>
    public GgufValue Require(string key) => Get(key) ?? throw Invalid($"metadata key '{key}' is missing");

    public string? GetString(string key) => Get(key) is { } v ? Typed(key, v.AsString) : null;
    public long? GetInt(string key) => Get(key) is { } v ? Typed(key, v.AsInt64) : null;
    public double? GetDouble(string key) => Get(key) is { } v ? Typed(key, v.AsDouble) : null;
    public bool? GetBool(string key) => Get(key) is { } v ? Typed(key, v.AsBool) : null;

    private T Typed<T>(string key, Func<T> read)
    {
        try { return read(); }
        catch (InvalidDataException e) { throw Invalid($"metadata key '{key}': {e.Message}", e); }
    }

    /// <summary>The raw bytes of a tensor, as stored.</summary>
    public byte[] ReadBytes(GgufTensorInfo tensor)
    {
        if (tensor.ByteCount > Array.MaxLength)
            throw new NotSupportedException($"{Path}: tensor '{tensor.Name}' is {tensor.ByteCount} bytes, more than one array holds");
        var bytes = new byte[tensor.ByteCount];
        lock (stream)
        {
            stream.Position = DataOffset + tensor.Offset;
            try { stream.ReadExactly(bytes); }
            catch (EndOfStreamException e) { throw Invalid($"tensor '{tensor.Name}' data is truncated", e); }
        }
        return bytes;
    }

    /// <summary>A tensor decoded to float32 (any type <see cref="GgmlTypes.IsSupported"/>), in row-major order of <see cref="GgufTensorInfo.Shape"/>.</summary>
    public float[] ReadFloats(string name) => ReadFloats(Tensor(name));

    public float[] ReadFloats(GgufTensorInfo tensor)
    {
        if (!GgmlTypes.IsSupported(tensor.Type))
            throw new NotSupportedException(
                $"{Path}: tensor '{tensor.Name}' has type {tensor.Type}, which Substrate cannot decode (it reads {GgmlTypes.SupportedNames})");
        return GgmlQuant.Decode(ReadBytes(tensor), tensor.Type, tensor.ElementCount);
    }

    public void Dispose() => stream.Dispose();

    private InvalidDataException Invalid(string problem, Exception? inner = null) => new($"{Path}: not a valid GGUF file: {problem}", inner);

    // ---- header ----

    private void ReadHeader()
    {
        var r = new Cursor(this);
        if (FileLength < 24) throw Invalid($"the file is {FileLength} bytes, shorter than a GGUF header (24)");
        uint magic = r.U32();
        if (magic != Magic)
            throw Invalid($"wrong magic 0x{magic:X8} (expected \"GGUF\")");
        Version = r.U32();
        if (Version is not (2 or 3)) throw Invalid($"unsupported GGUF version {Version} (supported: 2, 3)");
        ulong tensorCount = r.U64();
        ulong kvCount = r.U64();
        // Each tensor info takes at least 8 + 1 + 4 + 8 + 4 + 8 bytes; each key/value at least 8 + 1 + 4 + 1.
        if (tensorCount > (ulong)r.Remaining / 33) throw Invalid($"tensor count {tensorCount} is impossible in a {FileLength}-byte file");
        if (kvCount > (ulong)r.Remaining / 14) throw Invalid($"metadata count {kvCount} is impossible in a {FileLength}-byte file");

        for (ulong i = 0; i < kvCount; i++)
        {
            string key = r.String("metadata key");
            if (key.Length == 0) throw Invalid($"metadata key #{i} is empty");
            var type = (GgufValueType)r.U32();
            var value = ReadValue(r, key, type);
            if (!metadata.TryAdd(key, value)) throw Invalid($"metadata key '{key}' appears twice");
            keys.Add(key);
        }
        if (Get("general.alignment") is { } align)
        {
            if (align.Type != GgufValueType.UInt32) throw Invalid($"general.alignment is {align.Describe()}, not a uint32");
            uint a = (uint)align.Value;
            if (a == 0 || (a & (a - 1)) != 0 || a > 1 << 20) throw Invalid($"general.alignment {a} is not a power of two up to 2^20");
            Alignment = (int)a;
        }

        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = r.String("tensor name");
            if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) >= MaxNameBytes)
                throw Invalid($"tensor #{i} name '{name}' is empty or not shorter than {MaxNameBytes} bytes");
            uint nDims = r.U32();
            if (nDims is 0 or > MaxDims) throw Invalid($"tensor '{name}' has {nDims} dimensions (1 to {MaxDims} allowed)");
            var dims = new long[nDims];
            long count = 1;
            for (int d = 0; d < nDims; d++)
            {
                ulong ne = r.U64();
                if (ne == 0 || ne > long.MaxValue) throw Invalid($"tensor '{name}' dimension {d} is {ne}");
                dims[d] = (long)ne;
                if (count > long.MaxValue / dims[d]) throw Invalid($"tensor '{name}' shape [{string.Join(", ", dims.Take(d + 1))}…] overflows");
                count *= dims[d];
            }
            uint rawType = r.U32();
            var type = (GgmlType)rawType;
            var layout = GgmlTypes.Layout(type) ?? throw Invalid($"tensor '{name}' has unknown ggml type {rawType}");
            if (dims[0] % layout.BlockSize != 0)
                throw Invalid($"tensor '{name}' rows of {dims[0]} are not whole {type} blocks of {layout.BlockSize}");
            long blocks = count / layout.BlockSize;
            if (blocks > long.MaxValue / layout.BlockBytes) throw Invalid($"tensor '{name}' byte size overflows");
            long bytes = blocks * layout.BlockBytes;
            ulong offset = r.U64();
            if (offset > long.MaxValue) throw Invalid($"tensor '{name}' offset {offset} is past the end of the file");
            var info = new GgufTensorInfo(name, dims, type, (long)offset, bytes);
            if (!byName.TryAdd(name, info)) throw Invalid($"tensor '{name}' appears twice");
            tensors.Add(info);
        }

        DataOffset = AlignUp(r.Position, Alignment);
        long dataLength = FileLength - DataOffset;
        if (tensors.Count > 0 && dataLength < 0) throw Invalid($"the data section at {DataOffset} starts past the end of the file ({FileLength})");
        foreach (var t in tensors)
        {
            if (t.Offset % Alignment != 0) throw Invalid($"tensor '{t.Name}' offset {t.Offset} is not a multiple of the alignment {Alignment}");
            if (t.Offset > dataLength || t.ByteCount > dataLength - t.Offset)
                throw Invalid($"tensor '{t.Name}' ({t.ByteCount} bytes at data offset {t.Offset}) runs past the end of the file " +
                    $"(data section holds {Math.Max(0, dataLength)} bytes)");
        }
        var sorted = tensors.OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i - 1].Offset + sorted[i - 1].ByteCount > sorted[i].Offset)
                throw Invalid($"tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap");
    }

    private GgufValue ReadValue(Cursor r, string key, GgufValueType type)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return GgufValue.UInt8(r.Bytes(1)[0]);
            case GgufValueType.Int8: return GgufValue.Int8((sbyte)r.Bytes(1)[0]);
            case GgufValueType.UInt16: return GgufValue.UInt16(BinaryPrimitives.ReadUInt16LittleEndian(r.Bytes(2)));
            case GgufValueType.Int16: return GgufValue.Int16(BinaryPrimitives.ReadInt16LittleEndian(r.Bytes(2)));
            case GgufValueType.UInt32: return GgufValue.UInt32(r.U32());
            case GgufValueType.Int32: return GgufValue.Int32((int)r.U32());
            case GgufValueType.Float32: return GgufValue.Float32(BinaryPrimitives.ReadSingleLittleEndian(r.Bytes(4)));
            case GgufValueType.Bool: return GgufValue.Bool(r.Bytes(1)[0] != 0);
            case GgufValueType.String: return GgufValue.String(r.String($"value of '{key}'"));
            case GgufValueType.UInt64: return GgufValue.UInt64(r.U64());
            case GgufValueType.Int64: return GgufValue.Int64((long)r.U64());
            case GgufValueType.Float64: return GgufValue.Float64(BinaryPrimitives.ReadDoubleLittleEndian(r.Bytes(8)));
            case GgufValueType.Array:
                var elementType = (GgufValueType)r.U32();
                ulong n = r.U64();
                if (elementType == GgufValueType.Array) throw Invalid($"metadata '{key}' is a nested array (not supported)");
                if (elementType > GgufValueType.Float64) throw Invalid($"metadata '{key}' is an array of unknown type {(uint)elementType}");
                int minSize = elementType == GgufValueType.String ? 8 : GgufValue.ScalarSize(elementType);
                if (n > (ulong)(r.Remaining / minSize) || n > (ulong)Array.MaxLength)
                    throw Invalid($"metadata '{key}' claims {n} {elementType} items; the file has {r.Remaining} bytes left");
                return ReadArray(r, key, elementType, (int)n);
            default:
                throw Invalid($"metadata '{key}' has unknown value type {(uint)type}");
        }
    }

    private GgufValue ReadArray(Cursor r, string key, GgufValueType elementType, int n)
    {
        if (elementType == GgufValueType.String)
        {
            var strings = new string[n];
            for (int i = 0; i < n; i++) strings[i] = r.String($"item {i} of '{key}'");
            return GgufValue.Array(GgufValueType.String, strings);
        }
        int size = GgufValue.ScalarSize(elementType);
        var raw = r.Bytes((long)n * size);
        Array items = elementType switch
        {
            GgufValueType.UInt8 => raw.ToArray(),
            GgufValueType.Int8 => raw.Select(b => (sbyte)b).ToArray(),
            GgufValueType.Bool => raw.Select(b => b != 0).ToArray(),
            GgufValueType.UInt16 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i))).ToArray(),
            GgufValueType.Int16 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(2 * i))).ToArray(),
            GgufValueType.UInt32 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(4 * i))).ToArray(),
            GgufValueType.Int32 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4 * i))).ToArray(),
            GgufValueType.Float32 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i))).ToArray(),
            GgufValueType.UInt64 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(8 * i))).ToArray(),
            GgufValueType.Int64 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(8 * i))).ToArray(),
            GgufValueType.Float64 => Enumerable.Range(0, n).Select(i => BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(8 * i))).ToArray(),
            _ => throw Invalid($"metadata '{key}' is an array of unsupported type {elementType}"),
        };
        return GgufValue.Array(elementType, items);
    }

    internal static long AlignUp(long position, int alignment) => (position + alignment - 1) / alignment * alignment;

    /// <summary>Sequential reads from the header, each checked against the bytes left in the file.</summary>
    private sealed class Cursor(GgufReader owner)
    {
        private readonly BufferedStream input = new(owner.stream, 1 << 16);

        public long Position { get; private set; }
        public long Remaining => owner.FileLength - Position;

        public byte[] Bytes(long n)
        {
            if (n < 0 || n > Remaining)
                throw owner.Invalid($"truncated: {n} bytes needed at offset {Position}, the file ends at {owner.FileLength}");
            var buffer = new byte[n];
            input.ReadExactly(buffer);
            Position += n;
            return buffer;
        }

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));
        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8));

        public string String(string what)
        {
            ulong length = U64();
            if (length > (ulong)Remaining)
                throw owner.Invalid($"{what} at offset {Position - 8} claims {length} bytes; the file has {Remaining} left");
            return Encoding.UTF8.GetString(Bytes((long)length));
        }
    }
}
