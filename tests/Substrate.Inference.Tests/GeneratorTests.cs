using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

public class GeneratorTests
{
    private static readonly ByteTokenizer Tokenizer = new();
    private static readonly int[] Prompt = Tokenizer.Encode("Hello, wor", addSpecialTokens: true);

    private static int[] Ids(LlamaForCausalLM model, GenerationOptions options) =>
        new TokenGenerator(model).Generate(Prompt, options).ToArray();

    [Theory]
    [InlineData(AttentionImplementation.Eager)]
    [InlineData(AttentionImplementation.Fused)]
    public void CacheGivesTheSameTokensAsFullRecompute(AttentionImplementation attention)
    {
        using var model = TinyModel.Create(new ModelOptions { Attention = attention });
        var greedy = new GenerationOptions { MaxTokens = 40, Temperature = 0 };
        var withCache = Ids(model, greedy);
        Assert.Equal(40, withCache.Length);
        Assert.Equal(withCache, Ids(model, greedy with { UseCache = false }));

        var sampled = new GenerationOptions { MaxTokens = 40, Temperature = 1.0, TopK = 50, TopP = 0.95, RepetitionPenalty = 1.1, Seed = 11 };
        var sampledWithCache = Ids(model, sampled);
        Assert.Equal(sampledWithCache, Ids(model, sampled with { UseCache = false }));
        Assert.Equal(sampledWithCache, Ids(model, sampled)); // seeded: reproducible
        Assert.NotEqual(withCache, sampledWithCache);
    }

    [Fact]
    public void GreedyIsDeterministicAndMatchesArgmaxOfTheFullForward()
    {
        using var model = TinyModel.Create();
        var ids = Ids(model, new GenerationOptions { MaxTokens = 5, Temperature = 0 });
        var sequence = Prompt.ToList();
        foreach (var expected in ids)
        {
            using var input = tensor(sequence.Select(i => (long)i).ToArray(), [1, sequence.Count]);
            using var logits = model.call(input);
            Assert.Equal(expected, (int)logits[0, -1].argmax().item<long>());
            sequence.Add(expected);
        }
    }

    [Fact]
    public void BFloat16CacheMatchesBFloat16Recompute()
    {
        using var model = TinyModel.Create(new ModelOptions { ComputeDtype = ScalarType.BFloat16 });
        var greedy = new GenerationOptions { MaxTokens = 20, Temperature = 0, Decoder = DecoderImplementation.Torch }; // the TorchSharp cache, in bf16
        Assert.Equal(Ids(model, greedy).Take(8), Ids(model, greedy with { UseCache = false }).Take(8));
    }

    [Fact]
    public void EndsAtTheContextAndRejectsLongPrompts()
    {
        using var model = TinyModel.Create(maxPositions: 16);
        var stats = new GenerationStats();
        var ids = new TokenGenerator(model).Generate(Prompt, new GenerationOptions { MaxTokens = 100, Temperature = 0 }, stats: stats).ToArray();
        Assert.Equal(16 - Prompt.Length, ids.Length);
        Assert.Equal((FinishReason.Context, Prompt.Length, ids.Length), (stats.FinishReason, stats.PromptTokens, stats.GeneratedTokens));
        new TokenGenerator(model).Generate(Prompt, new GenerationOptions { MaxTokens = 3, Temperature = 0 }, stats: stats).Count();
        Assert.Equal((FinishReason.MaxTokens, 3), (stats.FinishReason, stats.GeneratedTokens));
        var longPrompt = Enumerable.Repeat(65, 17).ToArray();
        var ex = Assert.Throws<ArgumentException>(() => new TokenGenerator(model).Generate(longPrompt, new GenerationOptions()));
        Assert.Contains("17 tokens", ex.Message);
        Assert.Contains("16", ex.Message);
    }

    [Fact]
    public void EosStopsAndIsNotReturned()
    {
        using var model = TinyModel.Create();
        var greedy = new GenerationOptions { MaxTokens = 30, Temperature = 0 };
        var ids = Ids(model, greedy);
        var eos = ids[4];
        var stats = new GenerationStats();
        var stopped = new TokenGenerator(model).Generate(Prompt, greedy, new HashSet<int> { eos }, stats).ToArray();
        Assert.Equal(ids.TakeWhile(i => i != eos), stopped);
        Assert.Equal(FinishReason.Eos, stats.FinishReason);
    }

    [Fact]
    public void StreamedTextEqualsDecodedIdsAndStopStringsAreTrimmed()
    {
        using var model = TinyModel.Create();
        var generator = new Generator(model, Tokenizer);
        var options = new GenerationOptions { MaxTokens = 30, Temperature = 0 };
        var pieces = generator.Stream("Hello, wor", options).ToList();
        var text = string.Concat(pieces);
        var ids = Ids(model, options).TakeWhile(i => i != ByteTokenizer.Eos).ToArray();
        Assert.Equal(Tokenizer.Decode(ids, skipSpecialTokens: true), text);
        Assert.True(text.Length >= 6, $"output '{text}'");

        var stop = text.Substring(3, 2);
        var stats = new GenerationStats();
        var cut = string.Concat(generator.Stream("Hello, wor", options with { StopStrings = ["\u0001never", stop] }, stats));
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], cut);
        Assert.Equal(FinishReason.Stop, stats.FinishReason);
    }
}
