namespace Substrate.Tokenizers.Tests;

/// <summary>The source-generated regexes of the known patterns are exactly what the translation makes of them.</summary>
public class PreTokenizerPatternTests
{
    [Theory]
    [InlineData(Bpe.PreTokenizerPatterns.Llama3)]
    [InlineData(Bpe.PreTokenizerPatterns.Gpt2)]
    [InlineData(Bpe.PreTokenizerPatterns.O200k)]
    public void Generated_regexes_equal_the_translation(string pattern) =>
        Assert.Equal(Bpe.PreTokenizerPatterns.Translate(pattern), Bpe.PreTokenizerPatterns.ToRegex(pattern).ToString());
}
