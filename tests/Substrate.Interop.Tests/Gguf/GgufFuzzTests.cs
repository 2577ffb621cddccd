using System.Buffers.Binary;
using System.Diagnostics;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;

namespace Substrate.Interop.Tests.Gguf;

public class GgufFuzzTests
{
    /// <summary>
    /// 3,000 seeded corruptions of a small valid file (bit flips, byte runs, truncations, length and count
    /// fields overwritten with extreme values): each file either reads (header and every tensor) or
    /// throws InvalidDataException. Anything else — another exception, a crash, a hang — fails.
    /// </summary>
    [Fact]
    public void Mutated_files_read_or_throw_InvalidDataException()
    {
        var dir = TinyModels.Dir();
        var original = File.ReadAllBytes(GgufFormatTests.SmallFile(dir));
        var path = Path.Combine(dir, "mutant.gguf");
        var random = new Random(20261125);
        ulong[] extremes = [0, 1, 31, 32, 33, 255, 1UL << 31, uint.MaxValue, 1UL << 32, 1UL << 40, long.MaxValue, ulong.MaxValue];
        int read = 0, rejected = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 3000; i++)
        {
            var bytes = (byte[])original.Clone();
            switch (random.Next(5))
            {
                case 0: // bit flips
                    for (int k = random.Next(1, 4); k > 0; k--) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // truncation
                    bytes = bytes[..random.Next(bytes.Length)];
                    break;
                case 2: // a 64-bit field (length, count, dim, offset) overwritten with an extreme, at an 8-aligned or any offset
                    int at = random.Next(bytes.Length - 8);
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), extremes[random.Next(extremes.Length)]);
                    break;
                case 3: // a 32-bit field (type tag, n_dims, version) overwritten
                    int at32 = random.Next(bytes.Length - 4);
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at32), (uint)random.Next(-2, 40));
                    break;
                default: // a run of random bytes in the header
                    int start = random.Next(Math.Min(bytes.Length, 700));
                    for (int k = start; k < Math.Min(bytes.Length, start + random.Next(1, 16)); k++) bytes[k] = (byte)random.Next(256);
                    break;
            }
            File.WriteAllBytes(path, bytes);
            try
            {
                using var r = new GgufReader(path);
                foreach (var t in r.Tensors) r.ReadFloats(t);
                read++;
            }
            catch (InvalidDataException e)
            {
                Assert.Contains(path, e.Message);
                rejected++;
            }
            catch (NotSupportedException e) when (e.Message.Contains("which Substrate cannot decode")) // a type tag turned IQ*, TQ* …
            {
                Assert.Contains(path, e.Message);
                rejected++;
            }
        }
        Assert.True(read > 100 && rejected > 1000, $"read {read}, rejected {rejected}: the mutations should exercise both");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }
}
