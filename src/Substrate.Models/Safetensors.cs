using Substrate.IO;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Substrate.Models;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, string Dtype, long[] Shape, long Begin, long End);

/// <summary>
/// Reads a <c>.safetensors</c> file: an 8-byte little-endian header length N, N bytes of JSON
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}</c>), then the
/// data region. Nothing in the header is trusted: lengths, offsets, shapes and dtypes are checked
/// against the file before any tensor is allocated; violations throw <see cref="InvalidDataException"/>
/// naming the file. Reads F32, F16 and BF16.
/// </summary>
public sealed class SafetensorsReader : IDisposable
{
    /// <summary>The safetensors reference implementation's limit on the header size.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly FileStream stream;
    private readonly long dataStart;
    private readonly long fileLength; // the length the header's offsets were checked against
    private readonly Dictionary<string, SafetensorsEntry> entries = new(StringComparer.Ordinal);
    private readonly Dictionary<ScalarType, Tensor> mappings = []; // the whole file as one 1-D tensor per element type

    public SafetensorsReader(string path)
    {
        Path = path;
        stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            fileLength = stream.Length;
            if (fileLength < 8) throw Invalid($"file is {fileLength} bytes, shorter than the 8-byte header length");
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > MaxHeaderBytes) throw Invalid($"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
            if ((long)headerLength > fileLength - 8) throw Invalid($"header length {headerLength} exceeds the file's remaining {fileLength - 8} bytes");
            var header = new byte[headerLength];
            stream.ReadExactly(header);
            dataStart = 8 + (long)headerLength;
            Parse(header, fileLength - dataStart);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; private set; } = new Dictionary<string, string>();

    public IReadOnlyCollection<SafetensorsEntry> Entries => entries.Values;

    public bool Contains(string name) => entries.ContainsKey(name);

    public SafetensorsEntry Entry(string name) =>
        entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads one tensor, on the CPU, in its stored dtype.</summary>
    public Tensor Read(string name)
    {
        var e = Entry(name);
        var tensor = empty(e.Shape, ToScalarType(e.Dtype));
        try
        {
            var bytes = tensor.bytes; // a span over the tensor's own storage: contiguous, little-endian host
            if (bytes.Length != e.End - e.Begin) throw Invalid($"tensor '{name}': storage size mismatch");
            stream.Position = dataStart + e.Begin;
            stream.ReadExactly(bytes);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One tensor as a view of the file itself, in its stored dtype, nothing copied: the file is memory-mapped private
    /// (libtorch's <c>from_file</c> without sharing: MAP_PRIVATE, so a write into the tensor stays in this process and never
    /// reaches the file) and pages come in from the page cache as they are read. The mapping lives as long as any view of it.
    /// Null when the tensor's offset in the file is not a multiple of its element size (a view cannot start there: use
    /// <see cref="Read"/>). The file must not be truncated while mapped (reading past its end would fault).
    /// </summary>
    public Tensor? Map(string name)
    {
        var e = Entry(name);
        var (dtype, size) = (ToScalarType(e.Dtype), ElementSize(e.Dtype));
        var offset = dataStart + e.Begin;
        if (e.End == e.Begin) return empty(e.Shape, dtype);
        if (offset % size != 0) return null;
        if (!mappings.TryGetValue(dtype, out var file))
        {
            if (stream.Length < fileLength) throw Invalid($"the file is {stream.Length} bytes now, {fileLength} when its header was checked");
            file = from_file(Path, shared: false, size: fileLength / size, dtype: dtype); // (checked file bytes / size)
            file.DetachFromDisposeScope();
            mappings[dtype] = file;
        }
        return file.narrow(0, offset / size, (e.End - e.Begin) / size).view(e.Shape);
    }

    public static int ElementSize(string dtype) => dtype switch
    {
        "F32" => 4,
        "F16" or "BF16" => 2,
        _ => 0,
    };

    public static ScalarType ToScalarType(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        _ => throw new NotSupportedException($"safetensors dtype {dtype}"),
    };

    private void Parse(byte[] header, long dataLength)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(header) as JsonObject ?? throw Invalid("header is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw Invalid($"header is not valid JSON ({ex.Message})");
        }
        var spans = new List<(long Begin, long End, string Name)>();
        List<KeyValuePair<string, JsonNode?>> members;
        try
        {
            members = root.ToList(); // JsonObject builds its dictionary lazily: duplicate names surface here
        }
        catch (ArgumentException ex)
        {
            throw Invalid($"header repeats a name ({ex.Message})");
        }
        foreach (var (name, node) in members)
        {
            if (name == "__metadata__")
            {
                Metadata = ParseMetadata(node);
                continue;
            }
            var entry = ParseEntry(name, node, dataLength);
            entries[name] = entry;
            spans.Add((entry.Begin, entry.End, name));
        }
        spans.Sort();
        for (var i = 1; i < spans.Count; i++)
            if (spans[i].Begin < spans[i - 1].End)
                throw Invalid($"tensors '{spans[i - 1].Name}' and '{spans[i].Name}' overlap in the data region");
    }

    private Dictionary<string, string> ParseMetadata(JsonNode? node)
    {
        if (node is not JsonObject obj) throw Invalid("__metadata__ is not an object");
        var metadata = new Dictionary<string, string>();
        foreach (var (key, value) in obj)
            metadata[key] = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Invalid($"__metadata__ value of '{key}' is not a string");
        return metadata;
    }

    private SafetensorsEntry ParseEntry(string name, JsonNode? node, long dataLength)
    {
        if (node is not JsonObject obj) throw Invalid($"tensor '{name}': entry is not an object");
        var dtype = obj["dtype"] is JsonValue dv && dv.TryGetValue<string>(out var d) ? d : throw Invalid($"tensor '{name}': missing dtype");
        var elementSize = ElementSize(dtype);
        if (elementSize == 0) throw Invalid($"tensor '{name}': unsupported dtype '{dtype}' (F32, F16, BF16 are read)");
        if (obj["shape"] is not JsonArray shapeNode) throw Invalid($"tensor '{name}': missing shape");
        if (shapeNode.Count > 8) throw Invalid($"tensor '{name}': {shapeNode.Count} dimensions");
        var shape = new long[shapeNode.Count];
        long bytes = elementSize;
        for (var i = 0; i < shape.Length; i++)
        {
            shape[i] = shapeNode[i] is JsonValue sv && sv.TryGetValue<long>(out var s) && s >= 0
                ? s : throw Invalid($"tensor '{name}': shape [{shapeNode.ToJsonString()}] is not a list of non-negative integers");
            try { bytes = checked(bytes * shape[i]); }
            catch (OverflowException) { throw Invalid($"tensor '{name}': shape {shapeNode.ToJsonString()} overflows"); }
        }
        if (obj["data_offsets"] is not JsonArray { Count: 2 } offsets
            || offsets[0] is not JsonValue bv || !bv.TryGetValue<long>(out var begin)
            || offsets[1] is not JsonValue ev || !ev.TryGetValue<long>(out var end))
            throw Invalid($"tensor '{name}': data_offsets must be [begin, end]");
        if (begin < 0 || end < begin) throw Invalid($"tensor '{name}': data_offsets [{begin}, {end}] are not an ordered range");
        if (end > dataLength) throw Invalid($"tensor '{name}': data_offsets [{begin}, {end}] run past the data region ({dataLength} bytes; file truncated?)");
        if (end - begin != bytes)
            throw Invalid(
                $"tensor '{name}': data_offsets [{begin}, {end}] hold {end - begin} bytes but shape {shapeNode.ToJsonString()} × {dtype} needs {bytes}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private InvalidDataException Invalid(string message) => new($"{Path}: invalid safetensors file: {message}");

    public void Dispose()
    {
        stream.Dispose();
        foreach (var mapping in mappings.Values) mapping.Dispose(); // views keep the mapped storage alive
        mappings.Clear();
    }
}

/// <summary>A tensor for <see cref="SafetensorsWriter"/> to write, described up front (the header comes first) and read only when its
/// turn comes, inside a dispose scope of its own: a checkpoint's moments gathered from the ranks one tensor at a time, each freed
/// before the next is made, so the writer never holds more than one.</summary>
public sealed record SafetensorsSource(string Name, ScalarType Dtype, long[] Shape, Func<Tensor> Read);

/// <summary>
/// Writes a <c>.safetensors</c> file (F32, BF16 or F16 tensors, header padded to 8 bytes) atomically: to a temporary name beside
/// the target, then renamed over it.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/>, names sorted.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new SafetensorsSource(kv.Key, kv.Value.dtype, kv.Value.shape, () => kv.Value)).ToList(), metadata);

    /// <summary>Writes <paramref name="sources"/> in the order given, reading each once, when its bytes are due.</summary>
    public static void Write(string path, IReadOnlyList<SafetensorsSource> sources, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, dtype, shape, _) in sources)
        {
            var code = dtype switch
            {
                ScalarType.Float32 => "F32",
                ScalarType.BFloat16 => "BF16",
                ScalarType.Float16 => "F16",
                var other => throw new NotSupportedException($"tensor '{name}': cannot write dtype {other} to safetensors"),
            };
            var bytes = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(dtype);
            header[name] = new JsonObject
            {
                ["dtype"] = code,
                ["shape"] = new JsonArray(shape.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + bytes)),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var source in sources)
            {
                using var scope = NewDisposeScope();
                var cpu = source.Read().detach().cpu().contiguous();
                if (cpu.dtype != source.Dtype || !cpu.shape.SequenceEqual(source.Shape))
                    throw new InvalidOperationException($"tensor '{source.Name}': read as {cpu.dtype} [{string.Join(", ", cpu.shape)}], "
                        + $"described as {source.Dtype} [{string.Join(", ", source.Shape)}]");
                stream.Write(cpu.bytes);
            }
        });
    }

    private static int ElementSize(ScalarType t) => t == ScalarType.Float32 ? 4 : 2;
}
