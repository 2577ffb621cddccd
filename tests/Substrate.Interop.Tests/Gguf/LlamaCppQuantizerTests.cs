using Substrate.Nn.Ggml;
using LLama.Native;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// llama.cpp's own quantizer (llama_model_quantize, "pure": every 2-D weight the same type) rewrites our F32
/// export: its file must read here, its blocks must equal ours bit for bit (same reference rounding), and the
/// folder imported from it must generate what llama.cpp generates from it.
/// </summary>
public class LlamaCppQuantizerTests
{
    [Theory]
    [InlineData(LLamaFtype.MOSTLY_F16, GgmlType.F16)]
    [InlineData(LLamaFtype.MOSTLY_BF16, GgmlType.BF16)]
    [InlineData(LLamaFtype.MOSTLY_Q8_0, GgmlType.Q8_0)]
    [InlineData(LLamaFtype.MOSTLY_Q4_0, GgmlType.Q4_0)]
    public void Files_written_by_llama_cpp_read_and_match_our_blocks(LLamaFtype ftype, GgmlType type)
    {
        var dir = GgufTestModels.CreateFolder();
        var f32 = Path.Combine(dir, "f32.gguf");
        var quantized = Path.Combine(dir, $"{type}.gguf");
        GgufExporter.Export(dir, f32, GgufFileType.F32);
        using (new LlamaCpp(f32)) { } // loads the native library
        var parameters = LLamaModelQuantizeParams.Default();
        parameters.ftype = ftype;
        parameters.nthread = 1;
        parameters.pure = true;
        Assert.Equal(0u, NativeApi.llama_model_quantize(f32, quantized, ref parameters));

        int compared = 0;
        using (var ours = new GgufReader(f32))
        using (var theirs = new GgufReader(quantized))
        {
            Assert.Equal(ours.Tensors.Select(t => t.Name).Order(), theirs.Tensors.Select(t => t.Name).Order());
            foreach (var t in theirs.Tensors.Where(t => t.Type == type))
            {
                var encoded = GgmlQuant.Encode(ours.ReadFloats(t.Name), type);
                Assert.True(encoded.AsSpan().SequenceEqual(theirs.ReadBytes(t)), $"{t.Name}: our {type} blocks differ from llama.cpp's");
                compared++;
            }
        }
        Assert.True(compared >= 1 + 7 * GgufTestModels.Config.NumHiddenLayers, $"only {compared} {type} tensors compared");

        var imported = TinyModels.Dir();
        GgufImporter.Import(quantized, imported);
        using var model = ModelFolder.Load(imported);
        using var cpp = new LlamaCpp(quantized);
        int[] prompt = [474, 40, 300, 301, 12, 99];
        var tokens = cpp.Greedy(prompt, 32);
        // Teacher-forced on llama.cpp's tokens, Substrate (running the decoded weights) must pick the same token at
        // each step, or be within a near-tie: llama.cpp quantizes activations to Q8_0 for Q8_0/Q4_0 weights, which
        // moves logits by up to 0.2 here (see LlamaCppProofTests), enough to flip an argmax between close logits.
        var logits = GgufTestModels.Logits(model, [.. prompt, .. tokens[..^1]]);
        double tie = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? 0.3 : 0.02;
        for (int i = 0; i < tokens.Length; i++)
        {
            var row = logits[prompt.Length - 1 + i];
            float max = row.Max();
            Assert.True(max - row[tokens[i]] <= tie,
                $"step {i}: llama.cpp chose {tokens[i]} (logit {row[tokens[i]]}), Substrate's best is {Array.IndexOf(row, max)} ({max})");
        }
    }
}
