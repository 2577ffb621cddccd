using Substrate.Nn.Ggml;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Substrate.Tokenizers;
using Xunit.Abstractions;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// The exported file checked against llama.cpp itself: same token ids, same logits, same greedy tokens.
/// One model folder and one export per file type are shared by the tests of this class.
/// </summary>
public class LlamaCppProofTests(LlamaCppProofTests.Fixture fixture, ITestOutputHelper output) : IClassFixture<LlamaCppProofTests.Fixture>
{
    public sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            Dir = GgufTestModels.CreateFolder();
            foreach (var type in new[] { GgufFileType.F32, GgufFileType.F16, GgufFileType.BF16, GgufFileType.Q8_0, GgufFileType.Q4_0 })
            {
                var path = Path.Combine(Dir, $"model-{type}.gguf");
                GgufExporter.Export(Dir, path, type);
                Files[type] = path;
            }
            Model = ModelFolder.Load(Dir);
            Tokenizer = TokenizerLoader.Load(Dir);
        }

        public string Dir { get; }
        public Dictionary<GgufFileType, string> Files { get; } = [];
        public LlamaForCausalLM Model { get; }
        public ITokenizer Tokenizer { get; }

        public void Dispose()
        {
            Model.Dispose();
            try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        }
    }

    private readonly Fixture f = fixture;

    public static readonly string[] Texts =
    [
        "In the beginning, God created the heavens and the earth.",
        "The President's address: 1,234,567 dollars   and 89 cents!\n\nNew paragraph\ttab.",
        "don't won't I'll we've they're it's O'NEIL'S",
        "  leading spaces, trailing spaces  ",
        "Ünïcödé — “quotes” 日本語 😀 emoji",
        "<|start_header_id|>user<|end_header_id|>\n\nHello there!<|eot_id|>",
        "DON'T SHOUT'S 'tis\r\n\r\n  \n \t\tx 12345678901 3.14159 a1b2c3 ...!!! ??",
        "e\u0301 cafe\u0301 naïve Ελληνικά Русский текст עברית العربية हिन्दी 한국어 ｆｕｌｌｗｉｄｔｈ",
        "",
    ];

    private const string Prompt = "Call me Ishmael. Some years ago";

    [Fact]
    public void Llama_cpp_tokenizes_like_substrate()
    {
        using var cpp = new LlamaCpp(f.Files[GgufFileType.F32]);
        foreach (var text in Texts.Append(GgufTestModels.CorpusText[..2000]))
        {
            Assert.Equal(f.Tokenizer.Encode(text), cpp.Tokenize(text, addSpecial: false));
            Assert.Equal(f.Tokenizer.Encode(text, addSpecialTokens: true), cpp.Tokenize(text, addSpecial: true, parseSpecial: true));
        }
    }

    /// <summary>
    /// Logits of llama.cpp on the exported file against Substrate's, two ways: against the original fp32 model
    /// (weight rounding + llama.cpp's arithmetic), and against Substrate running the file's own decoded weights
    /// (imported back), which leaves only llama.cpp's arithmetic (F16 weights multiply F16-rounded activations,
    /// Q8_0/Q4_0 weights multiply Q8_0-quantized activations). Tolerances are the measured maxima rounded up
    /// (logits of this model span about ±9). Measured (AVX-512 build): F32 4.8e-6 / 4.8e-6, F16 1.0e-2 / 5.8e-3, Q8_0 0.25 / 0.16,
    /// BF16 7.5e-2 / 4.6e-2, Q4_0 3.7 / 0.17 (vs original / vs decoded).
    /// </summary>
    [Theory]
    [InlineData(GgufFileType.F32, 1e-3, 1e-3)]
    [InlineData(GgufFileType.F16, 3e-2, 2e-2)]
    [InlineData(GgufFileType.BF16, 0.15, 0.1)]
    [InlineData(GgufFileType.Q8_0, 0.5, 0.3)]
    [InlineData(GgufFileType.Q4_0, 6.0, 0.3)]
    public void Llama_cpp_logits_match_substrate(GgufFileType type, double toleranceVsOriginal, double toleranceVsDecoded)
    {
        var ids = f.Tokenizer.Encode(Prompt + " " + Texts[0], addSpecialTokens: true);
        using var cpp = new LlamaCpp(f.Files[type]);
        var actual = cpp.Logits(ids);
        var original = MaxDiff(GgufTestModels.Logits(f.Model, ids), actual);

        var dir = TinyModels.Dir();
        GgufImporter.Import(f.Files[type], dir);
        using var decoded = ModelFolder.Load(dir);
        var fromDecoded = MaxDiff(GgufTestModels.Logits(decoded, ids), actual);

        output.WriteLine($"{type}: max |logit diff| vs original {original:E3}, vs decoded weights {fromDecoded:E3} ({ids.Length} positions × {actual[0].Length})");
        Assert.True(original <= toleranceVsOriginal, $"{type}: max |logit diff| vs original {original} > {toleranceVsOriginal}");
        Assert.True(fromDecoded <= toleranceVsDecoded, $"{type}: max |logit diff| vs decoded {fromDecoded} > {toleranceVsDecoded}");
    }

    internal static double MaxDiff(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int t = 0; t < expected.Length; t++)
        {
            Assert.Equal(expected[t].Length, actual[t].Length);
            for (int v = 0; v < expected[t].Length; v++) max = Math.Max(max, Math.Abs(expected[t][v] - actual[t][v]));
        }
        return max;
    }

    [Fact]
    public void Llama_cpp_tokenizes_like_substrate_with_the_gpt2_split()
    {
        var dir = GgufTestModels.CreateFolder(tokenizer: false);
        var tokenizer = Substrate.Tokenizers.Training.BpeTrainer.Train([GgufTestModels.CorpusText],
            new Substrate.Tokenizers.Training.BpeTrainerOptions { VocabSize = 480, Pattern = Substrate.Tokenizers.Bpe.PreTokenizerPatterns.Gpt2 });
        Substrate.Tokenizers.Formats.HfTokenizerJsonWriter.Save(tokenizer, dir);
        var path = Path.Combine(dir, "gpt2.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F16);
        using (var r = new GgufReader(path)) Assert.Equal("gpt-2", r.GetString("tokenizer.ggml.pre"));
        var substrate = TokenizerLoader.Load(dir);
        using var cpp = new LlamaCpp(path);
        foreach (var text in Texts.Append(GgufTestModels.CorpusText[..2000]))
            Assert.Equal(substrate.Encode(text), cpp.Tokenize(text, addSpecial: false));
    }

    [Fact]
    public void A_folder_without_tokenizer_exports_a_file_llama_cpp_runs_on_ids()
    {
        var dir = GgufTestModels.CreateFolder(tokenizer: false);
        var path = Path.Combine(dir, "ids-only.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F32);
        using var model = ModelFolder.Load(dir);
        using var cpp = new LlamaCpp(path);
        int[] prompt = [1, 2, 3, 400, 500];
        Assert.Equal(GgufTestModels.Greedy(model, prompt, 8), cpp.Greedy(prompt, 8));
    }

    [Fact]
    public void Llama_cpp_greedy_continuation_matches_substrate_f32()
    {
        var prompt = f.Tokenizer.Encode(Prompt, addSpecialTokens: true);
        var expected = GgufTestModels.Greedy(f.Model, prompt, 32);
        using var cpp = new LlamaCpp(f.Files[GgufFileType.F32]);
        Assert.Equal(expected, cpp.Greedy(prompt, 32));
        output.WriteLine(f.Tokenizer.Decode(expected));
    }

    [Theory]
    [InlineData(GgufFileType.Q8_0)]
    [InlineData(GgufFileType.Q4_0)]
    public void Imported_quantized_file_generates_what_llama_cpp_generates(GgufFileType type)
    {
        var dir = TinyModels.Dir();
        GgufImporter.Import(f.Files[type], dir);
        using var imported = ModelFolder.Load(dir);
        var tokenizer = TokenizerLoader.Load(dir);
        var prompt = tokenizer.Encode(Prompt, addSpecialTokens: true);
        Assert.Equal(f.Tokenizer.Encode(Prompt, addSpecialTokens: true), prompt);
        using var cpp = new LlamaCpp(f.Files[type]);
        var expected = cpp.Greedy(prompt, 32);
        Assert.Equal(expected, GgufTestModels.Greedy(imported, prompt, 32));
    }
}
