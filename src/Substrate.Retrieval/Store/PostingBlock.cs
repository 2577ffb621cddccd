namespace Substrate.Retrieval.Store;

/// <summary>One posting: a chunk id, how often the term occurs in it, and the chunk's length in tokens (BM25 needs both,
/// and keeping the length here means a query never looks a row up elsewhere).</summary>
internal readonly record struct Posting(long Id, int Frequency, int Length);

/// <summary>
/// A block of up to <see cref="Capacity"/> postings of one term, ids ascending, stored as one blob: per posting the id's
/// gap from the previous (the first: from 0) as a varint, then the frequency and the length as varints (about 3 bytes a
/// posting for a common term). Its row also carries the block's largest frequency and shortest length, from which
/// <see cref="Bm25Scoring.Bound"/> gives the most any posting of the block can add to a score (block-max pruning).
/// </summary>
internal static class PostingBlock
{
    public const int Capacity = 128;

    public static byte[] Encode(ReadOnlySpan<Posting> postings)
    {
        var bytes = new byte[postings.Length * 3 * 10];
        int at = 0;
        long previous = 0;
        foreach (var p in postings)
        {
            at = Write(bytes, at, (ulong)(p.Id - previous));
            at = Write(bytes, at, (ulong)p.Frequency);
            at = Write(bytes, at, (ulong)p.Length);
            previous = p.Id;
        }
        return bytes[..at];
    }

    /// <summary>Decodes a block into <paramref name="into"/> (cleared first).</summary>
    public static void Decode(ReadOnlySpan<byte> bytes, List<Posting> into)
    {
        into.Clear();
        long id = 0;
        for (int at = 0; at < bytes.Length;)
        {
            id += (long)Read(bytes, ref at);
            int frequency = (int)Read(bytes, ref at), length = (int)Read(bytes, ref at);
            into.Add(new Posting(id, frequency, length));
        }
    }

    static int Write(byte[] bytes, int at, ulong value)
    {
        for (; value >= 0x80; value >>= 7) bytes[at++] = (byte)(value | 0x80);
        bytes[at++] = (byte)value;
        return at;
    }

    static ulong Read(ReadOnlySpan<byte> bytes, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
    }
}
