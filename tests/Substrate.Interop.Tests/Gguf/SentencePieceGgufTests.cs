using Substrate.Nn.Ggml;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Substrate.Tokenizers;

using Substrate.Tokenizers.Formats;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// A SentencePiece-style BPE tokenizer (Llama 2 layout: &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, 256 &lt;0xNN&gt; byte tokens, characters,
/// merges within '▁'-words) exported as tokenizer.ggml.model = llama: llama.cpp must split text as Substrate does,
/// byte fallback included, and the GGUF → folder → GGUF round trip must keep the vocabulary.
/// </summary>
public class SentencePieceGgufTests
{
    private static string CreateFolder()
    {
        var dir = GgufTestModels.CreateFolder(tokenizer: false);
        var text = GgufTestModels.CorpusText;
        var tokens = new List<HfTokenizerToken>
        {
            new(0, "<unk>", Added: true, Special: true), new(1, "<s>", Added: true, Special: true), new(2, "</s>", Added: true, Special: true),
        };
        for (int b = 0; b < 256; b++) tokens.Add(new HfTokenizerToken(tokens.Count, $"<0x{b:X2}>"));
        var normalized = "▁" + text.Replace(' ', '▁');
        foreach (var c in normalized.Where(c => !char.IsSurrogate(c) && c != '\n' && c != '\t').Distinct().Order())
            tokens.Add(new HfTokenizerToken(tokens.Count, c.ToString()));
        // Words start at '▁'; merges never cross a word boundary.
        var words = System.Text.RegularExpressions.Regex.Matches(normalized, "▁?[^▁]+|▁+")
            .GroupBy(m => m.Value).Select(g => (Symbols: g.Key.Select(c => c.ToString()).ToList(), Count: g.Count())).ToList();
        var known = tokens.Select(t => t.Content).ToHashSet();
        var merges = new List<(string, string)>();
        while (tokens.Count < 512)
        {
            var pairs = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (known.Contains(symbols[i]) && known.Contains(symbols[i + 1]))
                        pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1, StringComparer.Ordinal).ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First().Key;
            merges.Add(best);
            if (known.Add(best.Item1 + best.Item2)) tokens.Add(new HfTokenizerToken(tokens.Count, best.Item1 + best.Item2));
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2) { symbols[i] += symbols[i + 1]; symbols.RemoveAt(i + 1); }
        }
        HfTokenizerJson.Write(Path.Combine(dir, "tokenizer.json"),
            HfTokenizerJson.SentencePieceBpe(tokens, merges, addSpacePrefix: true, unkToken: "<unk>", bosToken: "<s>"));
        HfTokenizerJson.Write(Path.Combine(dir, "tokenizer_config.json"),
            HfTokenizerJson.Config(tokens.Where(t => t.Added), new HfTokenizerJson.SpecialTokens("<s>", "</s>", null, "<unk>"), addBos: true, addEos: false,
                chatTemplate: null, modelMaxLength: 4096));
        return dir;
    }

    [Fact]
    public void Llama_cpp_tokenizes_like_substrate_with_byte_fallback()
    {
        var dir = CreateFolder();
        var path = Path.Combine(dir, "spm.gguf");
        GgufExporter.Export(dir, path, GgufFileType.F32);
        using (var r = new GgufReader(path))
        {
            Assert.Equal("llama", r.GetString("tokenizer.ggml.model"));
            var types = r.Require("tokenizer.ggml.token_type").AsArray<int>();
            Assert.Equal((int)GgufTokenType.Unknown, types[0]);
            Assert.Equal((int)GgufTokenType.Control, types[1]);
            Assert.Equal((int)GgufTokenType.Byte, types[3 + 0x41]);
            Assert.Equal(0, r.GetInt("tokenizer.ggml.unknown_token_id"));
            Assert.Equal(true, r.GetBool("tokenizer.ggml.add_space_prefix"));
        }
        var substrate = TokenizerLoader.Load(dir);
        Assert.IsType<SentencePieceBpeTokenizer>(substrate);
        using var cpp = new LlamaCpp(path);
        foreach (var text in LlamaCppProofTests.Texts.Where(t => t.Length > 0).Append(GgufTestModels.CorpusText[..2000]))
        {
            Assert.Equal(substrate.Encode(text), cpp.Tokenize(text, addSpecial: false));
            Assert.Equal(substrate.Encode(text, addSpecialTokens: true), cpp.Tokenize(text, addSpecial: true));
        }
    }

    [Fact]
    public void Gguf_to_folder_to_gguf_keeps_the_sentencepiece_vocabulary()
    {
        var dir = CreateFolder();
        var first = Path.Combine(dir, "a.gguf");
        GgufExporter.Export(dir, first, GgufFileType.F16);
        var imported = TinyModels.Dir();
        GgufImporter.Import(first, imported);
        var second = Path.Combine(imported, "b.gguf");
        GgufExporter.Export(imported, second, GgufFileType.F16);
        using var a = new GgufReader(first);
        using var b = new GgufReader(second);
        foreach (var key in new[] { "tokenizer.ggml.tokens", "tokenizer.ggml.token_type" })
            Assert.Equal(((Array)a.Require(key).Value).Cast<object>(), ((Array)b.Require(key).Value).Cast<object>());
        var original = TokenizerLoader.Load(dir);
        var back = TokenizerLoader.Load(imported);
        foreach (var text in LlamaCppProofTests.Texts.Append(GgufTestModels.CorpusText[..2000]))
            Assert.Equal(original.Encode(text, addSpecialTokens: true), back.Encode(text, addSpecialTokens: true));
    }
}
