using Substrate.Nn.Ggml;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Xunit.Abstractions;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// Every GGUF type and llama.cpp mix on a model wide enough for the K-quants (hidden 256, ffn 512, 4 layers): Substrate's
/// quantizer writes the file llama.cpp's quantizer writes from the same F32 export — each tensor the same type and the
/// same bytes — and files llama.cpp quantized read back bit for bit as ggml dequantizes them, for every family.
/// </summary>
public class LlamaCppMixTests(ITestOutputHelper output)
{
    /// <summary>4 heads of 64 over 2 kv heads, so attn_k/attn_v rows are 256 wide too.</summary>
    public static readonly ModelConfig Wide = GgufTestModels.Config with { HiddenSize = 256, IntermediateSize = 512, NumHiddenLayers = 4 };

    public static TheoryData<GgufFileType> FileTypes => new()
    {
        GgufFileType.Q8_0, GgufFileType.Q4_0, GgufFileType.Q4_1, GgufFileType.Q5_0, GgufFileType.Q5_1, GgufFileType.Q2_K,
        GgufFileType.Q3_K_M, GgufFileType.Q4_K_S, GgufFileType.Q4_K_M, GgufFileType.Q5_K_M, GgufFileType.Q6_K,
    };

    private static ModelConfig Family(string family) => family switch
    {
        "llama" => Wide,
        "llama-untied" => Wide with { TieWordEmbeddings = false },
        "qwen2" => ModelFamily.Qwen2.Apply(Wide),
        "qwen3" => ModelFamily.Qwen3.Apply(Wide with { HeadDimOverride = 64 }),
        "mistral" => ModelFamily.Mistral.Apply(Wide with { SlidingWindowSize = 96, TieWordEmbeddings = false }),
        _ => throw new ArgumentException(family),
    };

    [Theory]
    [MemberData(nameof(FileTypes))]
    public void Our_quantizer_writes_the_file_llama_cpps_quantizer_writes(GgufFileType fileType)
    {
        foreach (var family in new[] { "llama", "llama-untied" })
        {
            var dir = GgufTestModels.CreateFolder(Family(family));
            var f32 = Path.Combine(dir, "f32.gguf");
            GgufExporter.Export(dir, f32, GgufFileType.F32);
            var theirs = Path.Combine(dir, "theirs.gguf");
            LlamaCpp.Quantize(f32, theirs, fileType);
            var fromFolder = Path.Combine(dir, "ours.gguf");
            GgufQuantizer.Quantize(dir, fromFolder, fileType);
            var fromGguf = Path.Combine(dir, "ours-from-gguf.gguf");
            GgufQuantizer.Quantize(f32, fromGguf, fileType);
            var types = AssertSameTensors(theirs, fromFolder);
            AssertSameTensors(theirs, fromGguf);
            if (fileType is GgufFileType.Q4_K_M or GgufFileType.Q8_0 or GgufFileType.Q6_K)
            {
                int[] prompt = [474, 40, 300, 301, 12, 99];
                using var ours = new LlamaCpp(fromFolder);
                using var reference = new LlamaCpp(theirs);
                Assert.Equal(reference.Logits(prompt), ours.Logits(prompt)); // llama.cpp runs our file as its own
            }
            output.WriteLine($"{fileType} {family}: {types}");
        }
    }

    /// <summary>Same tensors (llama.cpp writes them in its own order), same types, same bytes; returns "type × count".</summary>
    internal static string AssertSameTensors(string expectedPath, string actualPath)
    {
        using var expected = new GgufReader(expectedPath);
        using var actual = new GgufReader(actualPath);
        Assert.Equal(expected.GetInt("general.file_type"), actual.GetInt("general.file_type"));
        Assert.Equal(expected.Tensors.Select(t => $"{t.Name} {t.Type}").Order(), actual.Tensors.Select(t => $"{t.Name} {t.Type}").Order());
        foreach (var e in expected.Tensors)
        {
            var a = actual.Tensor(e.Name);
            var (eb, ab) = (expected.ReadBytes(e), actual.ReadBytes(a));
            if (eb.AsSpan().SequenceEqual(ab)) continue;
            var diff = expected.ReadFloats(e).Zip(actual.ReadFloats(a)).Max(p => Math.Abs(p.First - p.Second));
            Assert.Fail($"{e}: our bytes differ from llama.cpp's (max |decoded difference| {diff})");
        }
        return string.Join(", ", expected.Tensors.GroupBy(t => t.Type).Select(g => $"{g.Key} × {g.Count()}"));
    }

    [Theory]
    [InlineData("llama", GgufFileType.Q4_K_M)]
    [InlineData("qwen2", GgufFileType.Q3_K_M)]
    [InlineData("qwen3", GgufFileType.Q5_K_M)]
    [InlineData("mistral", GgufFileType.Q2_K)]
    [InlineData("llama-untied", GgufFileType.Q6_K)]
    [InlineData("qwen2", GgufFileType.Q4_K_S)]
    public void Files_llama_cpp_quantized_import_as_ggml_dequantizes_them_and_run_as_llama_cpp_runs_them(string family, GgufFileType fileType)
    {
        var config = Family(family);
        var dir = GgufTestModels.CreateFolder(config);
        var f32 = Path.Combine(dir, "f32.gguf");
        GgufExporter.Export(dir, f32, GgufFileType.F32);
        var quantized = Path.Combine(dir, "q.gguf");
        LlamaCpp.Quantize(f32, quantized, fileType);
        using (var reader = new GgufReader(quantized))
        {
            foreach (var t in reader.Tensors.Where(t => t.Type is not (GgmlType.F32 or GgmlType.F16)))
            {
                var reference = GgmlReference.Dequantize(t.Type.ToString().ToLowerInvariant().Replace("_k", "_K"), reader.ReadBytes(t), (int)t.ElementCount);
                Assert.True(reference.AsSpan().SequenceEqual(reader.ReadFloats(t)), $"{t}: decoded values differ from ggml's dequantize_row");
            }
        }

        var imported = TinyModels.Dir();
        var read = GgufImporter.Import(quantized, imported);
        Assert.Equal(config with { BosTokenId = read.BosTokenId, EosTokenId = read.EosTokenId }, read with { TorchDtype = null });
        using var model = ModelFolder.Load(imported);
        int[] prompt = [474, 40, 300, 301, 12, 99];
        using var cpp = new LlamaCpp(quantized);
        var tokens = cpp.Greedy(prompt, 24);
        var ours = GgufTestModels.Logits(model, [.. prompt, .. tokens[..^1]]);
        var theirs = cpp.Logits([.. prompt, .. tokens[..^1]]);
        double diff = LlamaCppProofTests.MaxDiff(ours, theirs);
        // llama.cpp multiplies K-quant weights with activations quantized to 8 bits (Q8_K), Substrate with float32
        // activations: logits move by up to a few tenths, so a greedy choice may flip only between near-equal logits.
        for (int i = 0; i < tokens.Length; i++)
        {
            var row = ours[prompt.Length - 1 + i];
            Assert.True(row.Max() - row[tokens[i]] <= 0.3, $"step {i}: llama.cpp chose {tokens[i]}, Substrate's logit for it is {row.Max() - row[tokens[i]]} below its best");
        }
        // The decoded weights, exported as F32 and run by llama.cpp in float32, give Substrate's logits.
        var decoded = Path.Combine(imported, "decoded.gguf");
        GgufExporter.Export(imported, decoded, GgufFileType.F32);
        double exact;
        using (var cppF32 = new LlamaCpp(decoded)) exact = LlamaCppProofTests.MaxDiff(ours, cppF32.Logits([.. prompt, .. tokens[..^1]]));
        output.WriteLine($"{family} {fileType}: max |logit diff| Substrate vs llama.cpp on the quantized file {diff:F4}, " +
            $"on its decoded F32 export {exact:E2}");
        Assert.True(diff < 1.0, $"max |logit diff| {diff}");
        Assert.True(exact <= 1e-3, $"max |logit diff| on the decoded F32 export {exact}");
    }
}
