using Substrate.Nn.Ggml;
using System.Buffers.Binary;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;

namespace Substrate.Interop.Tests.Gguf;

public class GgufFormatTests
{
    internal static string SmallFile(string dir)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("u8", GgufValue.UInt8(200));
        w.Add("i8", GgufValue.Int8(-5));
        w.Add("u16", GgufValue.UInt16(60000));
        w.Add("i16", GgufValue.Int16(-30000));
        w.Add("u32", GgufValue.UInt32(4_000_000_000));
        w.Add("i32", GgufValue.Int32(-2_000_000_000));
        w.Add("f32", GgufValue.Float32(1.5f));
        w.Add("bool", GgufValue.Bool(true));
        w.Add("u64", GgufValue.UInt64(ulong.MaxValue));
        w.Add("i64", GgufValue.Int64(long.MinValue));
        w.Add("f64", GgufValue.Float64(Math.PI));
        w.Add("strings", GgufValue.Array(["a", "", "héllo ▁"]));
        w.Add("ints", GgufValue.Array([1, -2, 3]));
        w.Add("floats", GgufValue.Array([0.5f, -1f]));
        w.Add("bytes", GgufValue.Array(GgufValueType.UInt8, new byte[] { 1, 2, 3 }));
        var values = Enumerable.Range(0, 64).Select(i => MathF.Sin(i * 0.37f) * 3).ToArray();
        w.AddTensor("f32", [2, 32], values, GgmlType.F32);
        w.AddTensor("f16", [64], values, GgmlType.F16);
        w.AddTensor("bf16", [4, 16], values, GgmlType.BF16);
        w.AddTensor("q8", [2, 32], values, GgmlType.Q8_0);
        w.AddTensor("q4", [1, 2, 32], values, GgmlType.Q4_0);
        var path = Path.Combine(dir, "small.gguf");
        w.Write(path);
        return path;
    }

    [Fact]
    public void Metadata_of_every_type_round_trips_in_order()
    {
        var path = SmallFile(TinyModels.Dir());
        using var r = new GgufReader(path);
        Assert.Equal(3u, r.Version);
        Assert.Equal(32, r.Alignment);
        Assert.Equal("general.alignment", r.Keys[0]);
        Assert.Equal("llama", r.GetString("general.architecture"));
        Assert.Equal((byte)200, r.Require("u8").Value);
        Assert.Equal((sbyte)-5, r.Require("i8").Value);
        Assert.Equal((ushort)60000, r.Require("u16").Value);
        Assert.Equal((short)-30000, r.Require("i16").Value);
        Assert.Equal(4_000_000_000u, r.Require("u32").Value);
        Assert.Equal(-2_000_000_000, r.Require("i32").Value);
        Assert.Equal(1.5f, r.Require("f32").Value);
        Assert.Equal(true, r.GetBool("bool"));
        Assert.Equal(ulong.MaxValue, r.Require("u64").Value);
        Assert.Equal(long.MinValue, r.GetInt("i64"));
        Assert.Equal(Math.PI, r.GetDouble("f64"));
        Assert.Equal(["a", "", "héllo ▁"], r.Require("strings").AsArray<string>());
        Assert.Equal([1, -2, 3], r.Require("ints").AsArray<int>());
        Assert.Equal([0.5f, -1f], r.Require("floats").AsArray<float>());
        Assert.Equal([1L, 2, 3], r.Require("bytes").AsInt64Array());
        Assert.Throws<InvalidDataException>(() => r.GetString("u32"));
    }

    [Fact]
    public void Tensors_are_aligned_and_decode_to_their_values()
    {
        var path = SmallFile(TinyModels.Dir());
        var values = Enumerable.Range(0, 64).Select(i => MathF.Sin(i * 0.37f) * 3).ToArray();
        using var r = new GgufReader(path);
        Assert.Equal(0, r.DataOffset % 32);
        Assert.All(r.Tensors, t => Assert.Equal(0, t.Offset % 32));
        Assert.Equal([32L, 2], r.Tensor("f32").Dims);
        Assert.Equal([2L, 32], r.Tensor("f32").Shape);
        Assert.Equal([32L, 2, 1], r.Tensor("q4").Dims);
        Assert.Equal(values, r.ReadFloats("f32"));
        Assert.Equal(values.Select(v => (float)(Half)v), r.ReadFloats("f16"));
        AssertClose(values, r.ReadFloats("bf16"), 3 * 1f / 128);
        AssertClose(values, r.ReadFloats("q8"), 3f / 127);
        AssertClose(values, r.ReadFloats("q4"), 3f / 8);
        Assert.Equal(2 * 34, r.Tensor("q8").ByteCount);
        Assert.Equal(2 * 18, r.Tensor("q4").ByteCount);
    }

    [Fact]
    public void Q8_0_block_layout_is_ggml_s()
    {
        var x = new float[32];
        x[0] = 1.27f; x[1] = -0.635f; x[2] = 0.004f; x[31] = -1.0f;
        var bytes = GgmlQuant.Encode(x, GgmlType.Q8_0);
        Assert.Equal(34, bytes.Length);
        Assert.Equal((Half)(1.27f / 127), BinaryPrimitives.ReadHalfLittleEndian(bytes));
        Assert.Equal(127, (sbyte)bytes[2]);
        Assert.Equal(-64, (sbyte)bytes[3]); // -63.5 rounds away from zero
        Assert.Equal(0, (sbyte)bytes[4]);
        Assert.Equal(-100, (sbyte)bytes[33]);
    }

    [Fact]
    public void Q4_0_block_layout_is_ggml_s()
    {
        var x = new float[32];
        x[0] = -8f; x[1] = 4f; x[15] = 1f; x[16] = 7.9f; x[17] = -1f; x[31] = 8f;
        var bytes = GgmlQuant.Encode(x, GgmlType.Q4_0);
        Assert.Equal(18, bytes.Length);
        // Largest magnitude is -8 (first of ±8): d = -8 / -8 = 1 → q = min(15, floor(x + 8.5)).
        Assert.Equal((Half)1f, BinaryPrimitives.ReadHalfLittleEndian(bytes));
        Assert.Equal(0 | (15 << 4), bytes[2]);     // x0 = -8 → 0 (low); x16 = 7.9 → floor(16.4) = 16, clamped to 15 (high)
        Assert.Equal(12 | (7 << 4), bytes[3]);     // x1 = 4 → 12 (low); x17 = -1 → 7 (high)
        Assert.Equal(9 | (15 << 4), bytes[17]);    // x15 = 1 → 9 (low); x31 = 8 → 16 → 15 (high)
        var back = GgmlQuant.Decode(bytes, GgmlType.Q4_0, 32);
        Assert.Equal(-8f, back[0]); Assert.Equal(4f, back[1]); Assert.Equal(7f, back[16]); Assert.Equal(7f, back[31]);
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even()
    {
        Assert.Equal(0x3F80, GgmlQuant.ToBf16(1f));
        Assert.Equal(0x3F80, GgmlQuant.ToBf16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal(0x3F82, GgmlQuant.ToBf16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.True(float.IsNaN(GgmlQuant.FromBf16(GgmlQuant.ToBf16(float.NaN))));
    }

    [Fact]
    public void Writer_rejects_shapes_that_are_not_whole_blocks()
    {
        var w = new GgufWriter();
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", [2, 16], new float[32], GgmlType.Q8_0));
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", [3], new float[4], GgmlType.F32));
        w.AddTensor("x", [4], new float[4], GgmlType.F32);
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", [4], new float[4], GgmlType.F32));
    }

    public static TheoryData<string, Action<byte[]>, string> Corruptions => new()
    {
        { "magic", b => b[0] = (byte)'X', "wrong magic" },
        { "version", b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 4), "unsupported GGUF version 4" },
        { "tensor count", b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), ulong.MaxValue / 2), "tensor count" },
        { "kv count", b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), 1UL << 40), "metadata count" },
        { "key length", b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), 1UL << 50), "claims" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Corrupt_headers_are_one_clear_error(string what, Action<byte[]> corrupt, string message)
    {
        var path = SmallFile(TinyModels.Dir());
        var bytes = File.ReadAllBytes(path);
        corrupt(bytes);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains(message, e.Message);
        Assert.False(string.IsNullOrEmpty(what));
    }

    [Fact]
    public void Truncated_files_and_bad_tensor_infos_are_errors()
    {
        var path = SmallFile(TinyModels.Dir());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^40]);
        var e = Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose());
        Assert.Contains("runs past the end", e.Message);
        File.WriteAllBytes(path, bytes[..10]);
        Assert.Contains("shorter than a GGUF header", Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose()).Message);
        File.WriteAllBytes(path, bytes[..37]); // inside the first key: 5 tensor infos cannot fit in 13 bytes
        Assert.Contains("tensor count 5 is impossible", Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose()).Message);
        for (int cut = 300; cut < 700; cut += 37) // somewhere in the metadata or tensor infos
        {
            File.WriteAllBytes(path, bytes[..cut]);
            var message = Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose()).Message;
            Assert.Matches("truncated|claims|impossible|past the end", message);
        }

        long dataOffset;
        long firstTensorInfo;
        using (var r = new GgufReader(SmallFile(TinyModels.Dir()))) dataOffset = r.DataOffset;
        // The first tensor info is the name "f32" (8-byte length + 3 bytes), then n_dims, dims, type, offset.
        firstTensorInfo = IndexOf(bytes, [3, 0, 0, 0, 0, 0, 0, 0, (byte)'f', (byte)'3', (byte)'2', 2, 0, 0, 0]);
        Assert.True(firstTensorInfo > 0 && firstTensorInfo < dataOffset);
        long dimsAt = firstTensorInfo + 11 + 4, typeAt = dimsAt + 16, offsetAt = typeAt + 4;

        Check(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)dimsAt), 1UL << 62), "overflows");
        Check(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)dimsAt), 1UL << 20), "runs past the end");
        Check(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)dimsAt), 0), "dimension 0 is 0");
        Check(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)typeAt), 77), "unknown ggml type 77");
        Check(b =>
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)dimsAt), 16);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)typeAt), (uint)GgmlType.Q8_0);
        }, "rows of 16 are not whole Q8_0 blocks");
        Check(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)offsetAt), 8), "not a multiple of the alignment");
        Check(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)offsetAt), 1UL << 40), "runs past the end");
        Check(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)offsetAt), 256), "overlap");
        Check(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)firstTensorInfo + 11), 9), "9 dimensions");

        void Check(Action<byte[]> corrupt, string message)
        {
            var copy = (byte[])bytes.Clone();
            corrupt(copy);
            File.WriteAllBytes(path, copy);
            var ex = Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose());
            Assert.Contains(message, ex.Message);
            Assert.Contains(path, ex.Message);
        }
    }

    [Fact]
    public void K_quant_tensors_read_and_bad_or_unsupported_ones_are_one_clear_error()
    {
        var path = Path.Combine(TinyModels.Dir(), "k.gguf");
        var values = Enumerable.Range(0, 512).Select(i => MathF.Sin(i)).ToArray();
        var w = new GgufWriter();
        w.AddTensor("k", [2, 256], values, GgmlType.Q4_K);
        w.AddTensorBytes("iq", [1, 256], GgmlType.IQ4_XS, new byte[136]);
        w.Write(path);
        using (var r = new GgufReader(path))
        {
            AssertClose(values, r.ReadFloats("k"), 0.1f);
            var e = Assert.Throws<NotSupportedException>(() => r.ReadFloats("iq"));
            Assert.Contains(path, e.Message);
            Assert.Contains("'iq' has type IQ4_XS, which Substrate cannot decode", e.Message);
        }
        var bytes = File.ReadAllBytes(path);
        long dimsAt = IndexOf(bytes, [1, 0, 0, 0, 0, 0, 0, 0, (byte)'k', 2, 0, 0, 0]) + 13;
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy.AsSpan((int)dimsAt), 128);
        File.WriteAllBytes(path, copy);
        Assert.Contains("rows of 128 are not whole Q4_K blocks of 256", Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose()).Message);
        File.WriteAllBytes(path, bytes[..^100]); // the last tensor's blocks cut short
        Assert.Contains("runs past the end", Assert.Throws<InvalidDataException>(() => new GgufReader(path).Dispose()).Message);
    }

    internal static long IndexOf(byte[] haystack, byte[] needle) =>
        haystack.AsSpan().IndexOf(needle);

    internal static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"[{i}] expected {expected[i]}, got {actual[i]} (tolerance {tolerance})");
    }
}
