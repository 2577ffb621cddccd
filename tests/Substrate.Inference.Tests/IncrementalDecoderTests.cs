using System.Text;

namespace Substrate.Inference.Tests;

public class IncrementalDecoderTests
{
    private static readonly ByteTokenizer Tokenizer = new();

    private static List<string> Pieces(string text, params string[] stops)
    {
        var decoder = new IncrementalDecoder(Tokenizer, stops);
        var pieces = new List<string>();
        foreach (var id in Tokenizer.Encode(text))
        {
            var piece = decoder.Push(id);
            if (piece.Length > 0) pieces.Add(piece);
            if (decoder.Stopped) return pieces;
        }
        var rest = decoder.Flush();
        if (rest.Length > 0) pieces.Add(rest);
        return pieces;
    }

    [Fact]
    public void MultiByteCharactersSplitAcrossTokensComeOutWhole()
    {
        // é is 2 bytes, 🙂 is 4 bytes (a surrogate pair): each arrives as several byte tokens.
        Assert.Equal(["a", "é", "🙂", "b"], Pieces("aé🙂b"));
    }

    [Fact]
    public void StopStringIsTrimmedAndItsPrefixHeldBack()
    {
        Assert.Equal(["a", "b", "c"], Pieces("abc<END>def", "<END>"));
        Assert.Equal(["a", "<Ex"], Pieces("a<Ex", "<END>"));    // "<E" held until "x" shows it is not "<END>"
        Assert.Equal(["a", "<EN"], Pieces("a<EN", "<END>"));    // flushed at the end: the stop string never completed
        Assert.Equal(["x"], Pieces("x🙂STOP", "🙂STOP"));
        Assert.Equal(["ab"], Pieces("abab!", "ab!"));
    }

    [Fact]
    public void EarliestOfSeveralStopStringsWins()
    {
        var decoder = new IncrementalDecoder(Tokenizer, ["yz", "bc"]);
        var text = new StringBuilder();
        foreach (var id in Tokenizer.Encode("abcxyz")) text.Append(decoder.Push(id));
        Assert.Equal("a", text.ToString());
        Assert.True(decoder.Stopped);
    }
}
