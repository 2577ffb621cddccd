using System.Text.Json;
using Substrate.Tokenizers.Tests.References;
using Substrate.Tokenizers.Training;

namespace Substrate.Tokenizers.Tests;

/// <summary>A trained tokenizer saved as tokenizer.json reloads here and in transformers.js with the same ids.</summary>
public class SavedTokenizerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("substrate-tok-").FullName;
    private readonly ByteLevelBpeTokenizer _trained = BpeTrainer.Train(SampleCorpus.Documents(200), new BpeTrainerOptions { VocabSize = 500 });

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] Texts => [.. SampleCorpus.Documents(20, seed: 7), .. TestStrings.Hard];

    [Fact]
    public void Reloads_with_identical_ids()
    {
        _trained.Save(_dir);
        var reloaded = TokenizerLoader.Load(_dir);
        Assert.Equal(_trained.VocabSize, reloaded.VocabSize);
        Assert.Equal(_trained.Special, reloaded.Special);
        foreach (var text in Texts)
        {
            Assert.Equal(_trained.Encode(text), reloaded.Encode(text));
            Assert.Equal(_trained.Encode(text, true), reloaded.Encode(text, true));
        }
    }

    [Fact]
    public void Writes_the_fields_transformers_reads()
    {
        _trained.Save(_dir, modelMaxLength: 2048);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "tokenizer.json")));
        var root = json.RootElement;
        Assert.Equal("BPE", root.GetProperty("model").GetProperty("type").GetString());
        Assert.True(root.GetProperty("model").GetProperty("ignore_merges").GetBoolean());
        var split = root.GetProperty("pre_tokenizer").GetProperty("pretokenizers")[0];
        Assert.Equal(Bpe.PreTokenizerPatterns.Llama3, split.GetProperty("pattern").GetProperty("Regex").GetString());
        Assert.Equal("<|begin_of_text|>", root.GetProperty("added_tokens")[0].GetProperty("content").GetString());
        Assert.True(root.GetProperty("added_tokens")[0].GetProperty("special").GetBoolean());

        var config = TokenizerConfig.Read(Path.Combine(_dir, "tokenizer_config.json"));
        Assert.Equal(("<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"), (config.BosToken, config.EosToken, config.PadToken));
        Assert.Equal("PreTrainedTokenizerFast", config.TokenizerClass);
        Assert.Equal(2048, config.ModelMaxLength);
        Assert.Contains("<|start_header_id|>", config.ChatTemplate);
    }

    [SkippableFact]
    public void Transformers_js_gives_identical_ids()
    {
        Skip.If(NodeReference.Unavailable is not null, NodeReference.Unavailable);
        _trained.Save(_dir);
        string json = Path.Combine(_dir, "tokenizer.json"), config = Path.Combine(_dir, "tokenizer_config.json");
        foreach (bool special in new[] { false, true })
        {
            var texts = special ? Texts : Texts.Where(t => !t.Contains("<|")).ToArray();
            var expected = NodeReference.Encode("json", texts, special, json, config);
            for (int i = 0; i < texts.Length; i++)
                Assert.True(expected[i].SequenceEqual(_trained.Encode(texts[i], special)), $"differs on {JsonSerializer.Serialize(texts[i])} (addSpecialTokens={special})");
        }
    }
}
