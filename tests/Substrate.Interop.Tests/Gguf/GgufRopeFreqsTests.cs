using Substrate.Inference.CpuDecode;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Substrate.Nn.Ggml;
using Substrate.Tokenizers;
using Xunit.Abstractions;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// llama.cpp's <c>rope_freqs.weight</c> (Llama 3.1/3.2's llama3 rope scaling as a GGUF file holds it): the llama3 parameters
/// are recovered from the factors, a folder imported from such a file is a plain Llama 3 folder that exports back bit for
/// bit, and <see cref="GgufCpuDecoder"/> rotates with the file's factors as llama.cpp does.
/// </summary>
public class GgufRopeFreqsTests(ITestOutputHelper output)
{
    private static RopeScaling Llama3(double factor, int original) =>
        new() { RopeType = "llama3", Factor = factor, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = original };

    /// <summary>Llama 3.1 8B (hd 128, factor 8), 3.2 1B (hd 64, factor 32) and 3.2 3B (hd 128, factor 32), their factors computed
    /// as llama.cpp's converter computes them (float32 frequencies, 1 / ((1 − smooth) / factor + smooth)).</summary>
    [Theory]
    [InlineData(128, 8.0)]
    [InlineData(64, 32.0)]
    [InlineData(128, 32.0)]
    public void The_standard_llama3_parameters_are_recovered_from_converter_factors(int headDim, double factor)
    {
        var factors = ConverterFactors(headDim, 500000, factor, 1, 4, 8192);
        Assert.Contains(factors, f => f != 1 && f != (float)factor); // some frequencies blend

        var recovered = GgufRopeFreqs.Llama3(factors, headDim, 500000);

        Assert.Equal(Llama3(factor, 8192), recovered);
    }

    [Fact]
    public void Factors_that_fit_no_llama3_parameters_are_not_taken_for_llama3()
    {
        Assert.Null(GgufRopeFreqs.Llama3([1, 1.25f, 1.5f, 2, 2.5f, 3, 4, 6], 16, 10000));
        Assert.Null(GgufRopeFreqs.Llama3(ConverterFactors(16, 10000, 8, 1, 4, 32).Reverse().ToArray(), 16, 10000));
    }

    /// <summary>Llama 3.1's standard scaling on the tiny shape (θ 500000, hd 16: wavelengths 6 … 4443 … 1.2e5 keep, blend and
    /// divide by 8): the file's rope_freqs read back as those parameters, imported to a folder whose config.json is the
    /// original's, and that folder exports to the same file, byte for byte.</summary>
    [Fact]
    public void A_llama3_model_exports_imports_and_exports_again_bit_for_bit()
    {
        var config = GgufTestModels.Config with { RopeScaling = Llama3(8, 8192), RopeTheta = 500000 };
        var (dir, path) = Export(config);
        using (var reader = new GgufReader(path))
        {
            var read = GgufImporter.ReadConfig(reader);
            Assert.Equal(config with { BosTokenId = read.BosTokenId, EosTokenId = read.EosTokenId }, read);
            Assert.Equal(reader.ReadFloats(GgufRopeFreqs.TensorName), read.RopeScaling!.FrequencyFactors);
        }
        var imported = TinyModels.Dir();
        GgufImporter.Import(path, imported);
        var folder = ModelFolder.ReadConfig(imported);
        Assert.Equal(Llama3(8, 8192), folder.RopeScaling);
        Assert.Equal(config with { BosTokenId = folder.BosTokenId, EosTokenId = folder.EosTokenId }, folder with { TorchDtype = null });

        var again = Path.Combine(imported, "again.gguf");
        GgufExporter.Export(imported, again, GgufFileType.F32, name: new DirectoryInfo(dir).Name);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
    }

    /// <summary>A hostile rope_freqs (a NaN, zero or negative factor patched into the file) is refused as bad data when the
    /// file is read, not turned into NaN rotations.</summary>
    [Theory]
    [InlineData(float.NaN)]
    [InlineData(0f)]
    [InlineData(-2f)]
    [InlineData(float.PositiveInfinity)]
    public void A_rope_freqs_factor_that_is_not_positive_and_finite_is_refused(float bad)
    {
        var (_, path) = Export(GgufTestModels.Config with { RopeScaling = Llama3(8, 8192), RopeTheta = 500000 });
        long at;
        using (var reader = new GgufReader(path)) at = reader.DataOffset + reader.Tensor(GgufRopeFreqs.TensorName).Offset + 3 * sizeof(float);
        using (var file = File.OpenWrite(path))
        {
            file.Position = at;
            file.Write(BitConverter.GetBytes(bad));
        }
        using var hostile = new GgufReader(path);
        var e = Assert.Throws<InvalidDataException>(() => GgufImporter.ReadConfig(hostile));
        Assert.Contains("positive and finite", e.Message);
    }

    /// <summary>Factors no llama3 parameters give (a llama longrope with equal short and long factors and attention factor 1,
    /// exported as rope_freqs): read back as that longrope, run by llama.cpp as by the GGUF decoder, and re-exported bit for bit.</summary>
    [Fact]
    public void Explicit_factors_import_as_a_longrope_folder_and_export_back_bit_for_bit()
    {
        double[] factors = [1, 1.25, 1.5, 2, 2.5, 3, 4, 6];
        var config = GgufTestModels.Config with
        {
            RopeScaling = new RopeScaling
            {
                RopeType = "longrope", AttentionFactor = 1, OriginalMaxPositionEmbeddings = 128, ShortFactor = factors, LongFactor = factors,
            },
        };
        var (dir, path) = Export(config);
        using (var reader = new GgufReader(path))
        {
            Assert.Equal(factors.Select(f => (float)f), reader.ReadFloats(GgufRopeFreqs.TensorName));
            Assert.DoesNotContain(reader.Tensors, t => t.Name.StartsWith("rope_factors", StringComparison.Ordinal));
        }
        var imported = TinyModels.Dir();
        var read = GgufImporter.Import(path, imported);
        Assert.Equal(config with { BosTokenId = read.BosTokenId, EosTokenId = read.EosTokenId }, read);
        var again = Path.Combine(imported, "again.gguf");
        GgufExporter.Export(imported, again, GgufFileType.F32, name: new DirectoryInfo(dir).Name);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
        AssertDecoderMatchesLlamaCpp(config, dir, path);
    }

    /// <summary>llama3 scaling that bites within the prompt (θ 10000, original 32: wavelengths 6, 20, 63, … keep, blend and
    /// divide by 8): the GGUF decoder over the file's factors matches llama.cpp's logits and 32 greedy tokens, and both differ
    /// from plain rotary over the same weights.</summary>
    [Fact]
    public void The_gguf_decoder_rotates_with_the_files_factors_as_llama_cpp_does()
    {
        var config = GgufTestModels.Config with { RopeScaling = Llama3(8, 32), RopeTheta = 10000 };
        var (dir, path) = Export(config);
        AssertDecoderMatchesLlamaCpp(config, dir, path);
    }

    private void AssertDecoderMatchesLlamaCpp(ModelConfig config, string dir, string path)
    {
        var ids = TokenizerLoader.Load(dir).Encode(LlamaCppProofTests.Texts[0], addSpecialTokens: true);
        using var cpp = new LlamaCpp(path);
        var expected = cpp.Logits(ids);
        using var decoder = GgufCpuDecoder.Open(path, threads: 1);
        var logits = new float[config.VocabSize];
        var actual = ids.Select(token => { decoder.Step(token, logits); return logits.ToArray(); }).ToArray();
        var difference = LlamaCppProofTests.MaxDiff(expected, actual);
        using var plain = GgufTestModels.CreateModel(config with { RopeScaling = null }, 7); // CreateFolder's seed
        var unscaled = LlamaCppProofTests.MaxDiff(expected, GgufTestModels.Logits(plain, ids));

        var prompt = ids[..12];
        decoder.Reset();
        foreach (var token in prompt) decoder.Step(token, logits);
        var greedy = new int[32];
        for (var i = 0; i < greedy.Length; i++)
        {
            greedy[i] = LlamaCpp.ArgMax(logits);
            decoder.Step(greedy[i], logits);
        }
        output.WriteLine($"{config.RopeScaling!.Type}: max |logit diff| {difference:E3} over {ids.Length} positions; plain rotary {unscaled:E3}");
        Assert.True(difference <= 1e-3, $"max |logit diff| {difference} > 1e-3");
        Assert.True(unscaled > 1e-2, $"plain rotary is within {unscaled} of the scaled logits: the test does not see the factors");
        Assert.Equal(cpp.Greedy(prompt, 32), greedy);
    }

    private static (string Dir, string Path) Export(ModelConfig config)
    {
        var dir = GgufTestModels.CreateFolder(config);
        var path = Path.Combine(dir, "model.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F32);
        return (dir, path);
    }

    /// <summary>llama.cpp's convert_hf_to_gguf.py for rope_type llama3: float32 frequencies θ^(−2i/hd), then per frequency
    /// 1, factor, or 1 / ((1 − smooth) / factor + smooth) in fp64, stored as float32.</summary>
    private static float[] ConverterFactors(int headDim, double theta, double factor, double low, double high, int original) =>
        Enumerable.Range(0, headDim / 2).Select(i =>
        {
            double frequency = 1f / MathF.Pow((float)theta, 2f * i / headDim);
            var wavelength = 2 * Math.PI / frequency;
            if (wavelength < original / high) return 1f;
            if (wavelength > original / low) return (float)factor;
            var smooth = (original / wavelength - low) / (high - low);
            return (float)(1 / ((1 - smooth) / factor + smooth));
        }).ToArray();
}
