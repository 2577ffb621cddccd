using IOFile = System.IO.File;
using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>The reader never trusts the header: hand-made broken files give InvalidDataException naming the file.</summary>
public class SafetensorsTests
{
    private static string Write(byte[] bytes)
    {
        var path = Path.Combine(TinyModels.Dir(), "model.safetensors");
        IOFile.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Build(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    private static void AssertInvalid(byte[] bytes, string expected)
    {
        var path = Write(bytes);
        var ex = Assert.Throws<InvalidDataException>(() => { using var r = new SafetensorsReader(path); });
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void WellFormedFileReadsBack()
    {
        var dir = TinyModels.Dir();
        var path = Path.Combine(dir, "t.safetensors");
        using var a = arange(6, ScalarType.Float32).view(2, 3);
        using var b = tensor(new float[] { 1.5f, -2.25f }).to(ScalarType.BFloat16);
        SafetensorsWriter.Write(path, [KeyValuePair.Create("a", a), KeyValuePair.Create("b", b)], new Dictionary<string, string> { ["k"] = "v" });
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(IOFile.ReadAllBytes(path)) % 8); // header padded to 8 bytes
        Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"));
        using var reader = new SafetensorsReader(path);
        Assert.Equal("v", reader.Metadata["k"]);
        using var ra = reader.Read("a");
        using var rb = reader.Read("b");
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, ra.data<float>().ToArray());
        Assert.Equal(new long[] { 2, 3 }, ra.shape);
        Assert.Equal(ScalarType.BFloat16, rb.dtype);
        Assert.Equal(new float[] { 1.5f, -2.25f }, rb.to(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void Float16Reads()
    {
        using var h = tensor(new float[] { 0.5f, 3f }).to(ScalarType.Float16);
        var data = h.bytes.ToArray();
        var bytes = Build("""{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}""", 4);
        data.CopyTo(bytes, bytes.Length - 4);
        using var reader = new SafetensorsReader(Write(bytes));
        using var read = reader.Read("h");
        Assert.Equal(new float[] { 0.5f, 3f }, read.to(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void MapRefusesAFileTruncatedAfterItsHeaderWasChecked()
    {
        var path = Path.Combine(TinyModels.Dir(), "cut.safetensors");
        using var a = arange(1024, ScalarType.Float32);
        SafetensorsWriter.Write(path, [KeyValuePair.Create("a", a)], new Dictionary<string, string>());
        using var reader = new SafetensorsReader(path);
        using (var cut = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) cut.SetLength(cut.Length - 2048);
        var e = Assert.Throws<InvalidDataException>(() => reader.Map("a"));
        Assert.Contains("when its header was checked", e.Message);
    }

    [Fact] public void TooShort() => AssertInvalid([1, 2, 3], "shorter than the 8-byte header length");

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        var bytes = Build("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        AssertInvalid(bytes, "exceeds the file's remaining");
    }

    [Fact]
    public void AbsurdHeaderLength()
    {
        var bytes = Build("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        AssertInvalid(bytes, "exceeds the 100000000-byte limit");
    }

    [Fact] public void HeaderNotJson() => AssertInvalid(Build("{\"a\": [", 0), "not valid JSON");

    [Fact] public void TruncatedData() => AssertInvalid(Build("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8), "run past the data region");

    [Fact] public void OffsetsDisagreeWithShape() => AssertInvalid(Build("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8), "needs 12");

    [Fact] public void HugeShapeOverflows() => AssertInvalid(Build("""{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}""", 8), "overflows");

    [Fact] public void NegativeDimension() => AssertInvalid(Build("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8), "non-negative");

    [Fact] public void UnsupportedDtype() => AssertInvalid(Build("""{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8), "unsupported dtype 'I64'");

    [Fact] public void ReversedOffsets() => AssertInvalid(Build("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}""", 8), "not an ordered range");

    [Fact]
    public void DuplicateNames() => AssertInvalid(Build(
        """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8), "repeats a name");

    [Fact] public void HeaderIsNotAnObject() => AssertInvalid(Build("[1, 2]", 0), "not a JSON object");

    [Fact] public void MetadataValuesMustBeStrings() => AssertInvalid(Build("""{"__metadata__":{"k":1}}""", 0), "__metadata__");

    [Fact]
    public void OverlappingTensors() => AssertInvalid(Build(
        """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12), "overlap");

    [Fact]
    public void TruncatedModelFileFailsToLoad()
    {
        var dir = TinyModels.Dir();
        using var model = TinyModels.Create();
        ModelFolder.Save(model, dir);
        var path = Path.Combine(dir, ModelFolder.WeightsFile);
        var bytes = IOFile.ReadAllBytes(path);
        IOFile.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var ex = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(dir));
        Assert.Contains(path, ex.Message);
    }
}
