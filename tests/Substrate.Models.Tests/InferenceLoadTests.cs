using System.Globalization;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary><see cref="ModelFolder.LoadForInference"/>: stored dtype, storage mapped from the shards, nothing copied, nothing written back.</summary>
public class InferenceLoadTests
{
    private static string SavedShardedBf16(LlamaForCausalLM model)
    {
        var dir = TinyModels.Dir();
        ModelFolder.Save(model, dir, ScalarType.BFloat16, maxShardBytes: 8 * 1024); // tiny shards: the 64 × 32 embeddings fill one
        return dir;
    }

    [Fact]
    public void ShardedBf16FolderLoadsMappedWithItsValuesAndTheLogitsOfACopiedLoad()
    {
        using var model = TinyModels.Create(ModelFamily.Find("qwen2").Apply(TinyModels.Config));
        var dir = SavedShardedBf16(model);
        var shards = Directory.GetFiles(dir, "model-*-of-*.safetensors").Order().ToArray();
        Assert.True(shards.Length >= 3, $"{shards.Length} shards");
        Assert.False(File.Exists(Path.Combine(dir, ModelFolder.WeightsFile)));

        using var mapped = ModelFolder.LoadForInference(dir);
        Assert.Equal(ScalarType.BFloat16, mapped.Options.WeightDtype);
        var ranges = MappedRanges(shards);
        var expected = model.state_dict();
        foreach (var (name, parameter) in mapped.named_parameters())
        {
            Assert.Equal(ScalarType.BFloat16, parameter.dtype);
            using var want = expected[name].to(ScalarType.BFloat16);
            Assert.True(parameter.allclose(want, rtol: 0, atol: 0), name);
            var address = Address(parameter);
            Assert.True(ranges.Any(r => address >= r.Start && address + parameter.numel() * 2 <= r.End), $"{name} is not inside a mapped shard");
        }

        using var copied = ModelFolder.Load(dir, new ModelOptions { WeightDtype = ScalarType.BFloat16, ComputeDtype = ScalarType.BFloat16 });
        using var mappedBf16 = ModelFolder.LoadForInference(dir, new ModelOptions { ComputeDtype = ScalarType.BFloat16 });
        AssertSameLogits(copied, mappedBf16);
    }

    private static void AssertSameLogits(LlamaForCausalLM expected, LlamaForCausalLM actual)
    {
        using var ids = TinyModels.Ids();
        using var a = expected.call(ids);
        using var b = actual.call(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }

    [Fact]
    public void WritingIntoAMappedParameterNeverReachesTheFile()
    {
        using var model = TinyModels.Create();
        var dir = SavedShardedBf16(model);
        var before = Directory.GetFiles(dir).ToDictionary(f => f, File.ReadAllBytes);
        using (var mapped = ModelFolder.LoadForInference(dir))
        using (no_grad())
            foreach (var p in mapped.parameters()) p.add_(1);
        foreach (var (file, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(file));
    }

    [Fact]
    public void Fp32FolderLoadsAsFp32()
    {
        using var model = TinyModels.Create();
        var dir = TinyModels.Dir();
        ModelFolder.Save(model, dir);
        using var mapped = ModelFolder.LoadForInference(dir);
        Assert.All(mapped.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        AssertSameLogits(model, mapped);
    }

    [Fact]
    public void MissingShardIsOneClearError()
    {
        using var model = TinyModels.Create();
        var dir = SavedShardedBf16(model);
        var shard = Directory.GetFiles(dir, "model-*-of-*.safetensors").Order().Last();
        File.Delete(shard);
        foreach (var load in new Func<string, LlamaForCausalLM>[] { d => ModelFolder.LoadForInference(d), d => ModelFolder.Load(d) })
        {
            var error = Assert.Throws<InvalidDataException>(() => load(dir));
            Assert.Contains($"'{Path.GetFileName(shard)}', which is not in the model folder", error.Message);
        }
    }

    [Fact]
    public void TruncatedShardIsOneClearError()
    {
        using var model = TinyModels.Create();
        var dir = SavedShardedBf16(model);
        var shard = Directory.GetFiles(dir, "model-*-of-*.safetensors").Order().First();
        using (var stream = new FileStream(shard, FileMode.Open)) stream.SetLength(stream.Length - 10);
        var error = Assert.Throws<InvalidDataException>(() => ModelFolder.LoadForInference(dir));
        Assert.Contains(shard, error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void NonFiniteMappedWeightIsRefused()
    {
        using var model = TinyModels.Create();
        using (no_grad()) model.state_dict()["model.norm.weight"][3] = float.NaN;
        var dir = SavedShardedBf16(model);
        var error = Assert.Throws<InvalidDataException>(() => ModelFolder.LoadForInference(dir));
        Assert.Contains("'model.norm.weight' holds 1 NaN or infinite values", error.Message);
    }

    private static unsafe long Address(Tensor t)
    {
        fixed (byte* p = t.bytes) return (long)p;
    }

    /// <summary>Address ranges of this process's mappings of <paramref name="files"/>, from /proc/self/maps.</summary>
    private static List<(long Start, long End)> MappedRanges(IEnumerable<string> files)
    {
        var paths = files.Select(Path.GetFullPath).ToHashSet();
        var ranges = new List<(long, long)>();
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || !paths.Contains(fields[5].Trim())) continue;
            var bounds = fields[0].Split('-');
            ranges.Add((long.Parse(bounds[0], NumberStyles.HexNumber), long.Parse(bounds[1], NumberStyles.HexNumber)));
        }
        return ranges;
    }
}
