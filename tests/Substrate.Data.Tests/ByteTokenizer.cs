using System.Text;
using Substrate.Tokenizers;

namespace Substrate.Data.Tests;

/// <summary>A fake tokenizer for tests: UTF-8 bytes are the ids, EOS is 256 (or the last id of a larger declared vocab).</summary>
sealed class ByteTokenizer(int vocabSize = 257) : ITokenizer
{
    public int VocabSize => vocabSize;
    public SpecialTokenIds Special => new(null, vocabSize - 1, null);
    public int[] Encode(string text, bool addSpecialTokens = false) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) =>
        Encoding.UTF8.GetString(ids.ToArray().Where(i => i < 256).Select(i => (byte)i).ToArray());
    public int? TokenToId(string token) => null;
    public string? IdToToken(int id) => null;
}
