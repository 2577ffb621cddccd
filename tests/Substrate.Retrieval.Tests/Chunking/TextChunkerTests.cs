using Substrate.Retrieval.Chunking;

namespace Substrate.Retrieval.Tests.Chunking;

public class TextChunkerTests
{
    /// <summary>One token a word: chunk sizes below are exact.</summary>
    static int Words(string text) => text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length;

    [Fact]
    public void ChunksBreakBetweenSentencesAndCarryTheOverlap()
    {
        var chunker = new TextChunker(Words, maxTokens: 10, overlapTokens: 4);
        var chunks = chunker.Chunk("One two three. Four five six. Seven eight nine. Ten eleven twelve. Thirteen.", "p");
        Assert.Equal([
            ("One two three. Four five six. Seven eight nine.", 9),
            ("Seven eight nine. Ten eleven twelve. Thirteen.", 7),
        ], chunks.Select(c => (c.Text, c.Tokens)));
        Assert.All(chunks, c => Assert.Equal("p", c.Position));
    }

    [Fact]
    public void AHalfFullChunkEndsBeforeAParagraphThatWouldNotFit()
    {
        var chunker = new TextChunker(Words, maxTokens: 12, overlapTokens: 0);
        var chunks = chunker.Chunk("a b c d e f g.\n\nh i j. k l m n o.", "");
        Assert.Equal(["a b c d e f g.", "h i j. k l m n o."], chunks.Select(c => c.Text));
        // A paragraph that fits whole stays with the one before it.
        Assert.Equal(["a b c d e f g.\n\nh i j."], chunker.Chunk("a b c d e f g.\n\nh i j.", "").Select(c => c.Text));
    }

    [Fact]
    public void AnOverlongSentenceIsCutBetweenWords()
    {
        var chunker = new TextChunker(Words, maxTokens: 8, overlapTokens: 0);
        var text = string.Join(' ', Enumerable.Range(1, 20).Select(i => "w" + i));
        var chunks = chunker.Chunk(text, "");
        Assert.Equal([8, 8, 4], chunks.Select(c => c.Tokens));
        Assert.Equal(text, string.Join(' ', chunks.Select(c => c.Text)));
    }

    [Fact]
    public void LinesAreSentenceBoundariesAndKeptAsLines()
    {
        var chunker = new TextChunker(Words, maxTokens: 10, overlapTokens: 0);
        var chunks = chunker.Chunk("cat (noun): a small feline\ndog (noun): a loyal canine\nowl (noun): a night bird", "");
        Assert.Equal(["cat (noun): a small feline\ndog (noun): a loyal canine", "owl (noun): a night bird"], chunks.Select(c => c.Text));
    }
}
