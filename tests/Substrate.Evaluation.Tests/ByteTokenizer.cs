using System.Text;
using Substrate.Tokenizers;

namespace Substrate.Evaluation.Tests;

/// <summary>Ids 0–255 are bytes, 256 = BOS, 257 = EOS: an independent stand-in for the real tokenizers.</summary>
internal sealed class ByteTokenizer : ITokenizer
{
    public const int Bos = 256, Eos = 257;

    public int VocabSize => 258;

    public SpecialTokenIds Special { get; } = new(Bos, Eos, null);

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text).Select(b => (int)b);
        return (addSpecialTokens ? bytes.Prepend(Bos) : bytes).ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var bytes = new List<byte>();
        var text = new StringBuilder();
        foreach (var id in ids)
        {
            if (id < 256) { bytes.Add((byte)id); continue; }
            text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
            if (!skipSpecialTokens) text.Append(id == Bos ? "<s>" : "</s>");
        }
        return text.Append(Encoding.UTF8.GetString(bytes.ToArray())).ToString();
    }

    public int? TokenToId(string token) => null;

    public string? IdToToken(int id) => null;
}
