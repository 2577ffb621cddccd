using Substrate.Tokenizers.Bpe;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;

namespace Substrate.Tokenizers.Tests;

/// <summary>The <see cref="PreTokenizerPatterns.Words"/> pattern: a word is the same tokens in prose and in a JSON string,
/// so a small model copies it into a tool call token for token; under Llama 3's pattern it is not.</summary>
public class WordsPatternTests
{
    private static readonly string[] Corpus = ["What is the definition of pest? A pest is a persistently annoying person. " +
        "Look up the word pester: what does it mean? To annoy, 1234 times."];

    private static int[] Ids(ITokenizer t, string text) => t.Encode(text, addSpecialTokens: false);

    private static bool Contains(int[] ids, int[] part) =>
        Enumerable.Range(0, ids.Length - part.Length + 1).Any(i => ids.AsSpan(i, part.Length).SequenceEqual(part));

    [Fact]
    public void A_word_in_prose_is_the_same_tokens_in_a_json_call()
    {
        var words = BpeTrainer.Train(Corpus, new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1, Pattern = PreTokenizerPatterns.Words });
        var llama = BpeTrainer.Train(Corpus, new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1 });
        const string question = "What is the definition of pester?", call = "{\"key\":\"pester\"}";

        Assert.True(Contains(Ids(words, call), Ids(words, "pester")));
        Assert.True(Contains(Ids(words, question), Ids(words, "pester")));
        Assert.False(Contains(Ids(llama, question), Ids(llama, "pester")), "Llama 3's pattern glues the space to the word");
        Assert.Equal(["1", "2", "3", "4", " "], Ids(words, "1234 times").Take(5).Select(id => words.Decode([id])));
    }

    [Fact]
    public void The_pattern_is_saved_in_tokenizer_json_and_loaded_back()
    {
        var words = BpeTrainer.Train(Corpus, new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1, Pattern = PreTokenizerPatterns.Named("words") });
        var dir = Directory.CreateTempSubdirectory("substrate-words-").FullName;
        try
        {
            HfTokenizerJsonWriter.Save(words, dir);
            var loaded = TokenizerLoader.Load(dir);
            const string text = "Tool: {\"key\":\"pest\"}\nAssistant: a pest, 42";
            Assert.Equal(Ids(words, text), Ids(loaded, text));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void An_unknown_pattern_name_is_refused() =>
        Assert.Contains("llama3, gpt2 or words", Assert.Throws<ArgumentException>(() => PreTokenizerPatterns.Named("bert")).Message);
}
