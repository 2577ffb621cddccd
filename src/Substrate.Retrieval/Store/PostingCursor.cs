using Microsoft.Data.Sqlite;

namespace Substrate.Retrieval.Store;

/// <summary>
/// Walks one term's postings in id order, a block at a time from <c>bm25_postings</c>: a block's header (last id, bound) is
/// read before its bytes are decoded, so <see cref="SkipTo"/> passes whole blocks that end before the target without
/// decoding them, and <see cref="BlockBound"/> lets a caller skip a block whose best posting cannot matter.
/// </summary>
internal sealed class PostingCursor : IDisposable
{
    readonly SqliteCommand command;
    readonly SqliteDataReader reader;
    readonly List<Posting> block = new(PostingBlock.Capacity);
    readonly double idf, averageLength;
    bool decoded;
    int at;

    public PostingCursor(ChunkStore store, string term, double idf, double averageLength)
    {
        this.idf = idf;
        this.averageLength = averageLength;
        command = store.Command("SELECT last_id, max_frequency, min_length, data FROM bm25_postings WHERE term = $t ORDER BY last_id");
        ChunkStore.Bind(command, ("$t", term));
        reader = command.ExecuteReader();
        Bound = Bm25Scoring.Bound(idf);
        NextBlock();
        SkipTo(0);
    }

    /// <summary>The most this term adds to any row.</summary>
    public double Bound { get; }

    /// <summary>The id under the cursor; long.MaxValue past the end.</summary>
    public long Id { get; private set; }

    /// <summary>Last id of the current block (long.MaxValue past the end).</summary>
    public long BlockLast { get; private set; }

    /// <summary>The most any posting of the current block adds.</summary>
    public double BlockBound { get; private set; }

    public Posting Current => block[at];

    public double Score(Posting p) => Bm25Scoring.Term(idf, p.Frequency, p.Length, averageLength);

    /// <summary>Moves to the first posting with id ≥ <paramref name="target"/>.</summary>
    public void SkipTo(long target)
    {
        while (BlockLast < target) NextBlock();
        if (BlockLast == long.MaxValue) return;
        Decode();
        while (block[at].Id < target) at++;
        Id = block[at].Id;
    }

    /// <summary>Moves past the current posting.</summary>
    public void Next() => SkipTo(Id + 1);

    /// <summary>Moves to the first posting of the next block (for a block the caller has found cannot matter).</summary>
    public void SkipBlock() => SkipTo(BlockLast + 1);

    void NextBlock()
    {
        decoded = false;
        at = 0;
        if (!reader.Read())
        {
            Id = BlockLast = long.MaxValue;
            return;
        }
        BlockLast = reader.GetInt64(0);
        BlockBound = Bm25Scoring.Bound(idf, reader.GetInt32(1), reader.GetInt32(2), averageLength);
        Id = -1;   // somewhere in the block: not known until decoded
    }

    void Decode()
    {
        if (decoded) return;
        PostingBlock.Decode((byte[])reader.GetValue(3), block);
        decoded = true;
        at = 0;
    }

    public void Dispose()
    {
        reader.Dispose();
        command.Dispose();
    }
}
