namespace Substrate.Data.Instructions;

/// <summary>
/// Supervised examples packed into fixed rows of T+1 tokens: inputs are row[0..T), targets row[1..T+1) with
/// <see cref="Ignore"/> wherever the target is not a trained token — prompt tokens, padding, and the first
/// token of each packed example (never predicted from the example before it). Examples are placed whole,
/// first-fit in order; one longer than a row is cut to T+1 tokens (counted in <see cref="Truncated"/>).
/// The loss never crosses packed examples; attention need not either: <see cref="Fill(int, Span{long}, Span{long}, Span{long})"/>
/// also gives each token its example's segment id (padding gets one of its own), from which the model builds
/// per-example positions and a block-diagonal causal mask.
/// </summary>
public sealed class PackedRows
{
    public const long Ignore = -100;

    private readonly List<(int[] Ids, bool[] Train, int[] Lengths)> rows = []; // Lengths: the row's examples, in order

    public PackedRows(IEnumerable<SupervisedExample> examples, int seqLen, int padId, bool pack = true)
    {
        SeqLen = seqLen;
        PadId = padId;
        var open = new List<(List<int> Ids, List<bool> Train, List<int> Lengths)>();
        foreach (var e in examples)
        {
            int[] ids = e.Ids;
            bool[] train = e.Train;
            if (ids.Length > seqLen + 1) { ids = ids[..(seqLen + 1)]; train = train[..(seqLen + 1)]; Truncated++; }
            if (!train.Skip(1).Contains(true)) { Dropped++; continue; } // nothing left to learn after the cut
            Examples++;
            var row = pack ? open.FirstOrDefault(r => r.Ids.Count + ids.Length <= seqLen + 1) : default;
            if (row.Ids is null) { row = ([], [], []); open.Add(row); }
            row.Ids.AddRange(ids);
            row.Lengths.Add(ids.Length);
            row.Train.Add(false); // the example's first token is never a target
            row.Train.AddRange(train.Skip(1));
        }
        foreach (var (ids, train, lengths) in open) rows.Add((ids.ToArray(), train.ToArray(), lengths.ToArray()));
    }

    public int SeqLen { get; }
    public int PadId { get; }
    public int Count => rows.Count;
    public int Examples { get; }
    public int Truncated { get; }
    public int Dropped { get; }

    /// <summary>Trained target tokens over all rows.</summary>
    public long TargetTokens => rows.Sum(r => (long)r.Train.Count(t => t));

    /// <summary>Writes row <paramref name="index"/> as T inputs and T targets (Ignore where not trained).</summary>
    public void Fill(int index, Span<long> inputs, Span<long> targets)
    {
        var (ids, train, _) = rows[index];
        for (int t = 0; t < SeqLen; t++)
        {
            inputs[t] = t < ids.Length ? ids[t] : PadId;
            targets[t] = t + 1 < ids.Length && train[t + 1] ? ids[t + 1] : Ignore;
        }
    }

    /// <summary>As <see cref="Fill(int, Span{long}, Span{long})"/>, and the T input tokens' segment ids: 0, 1, … per
    /// packed example, the next id for the padding after them. An empty <paramref name="segments"/> is skipped.</summary>
    public void Fill(int index, Span<long> inputs, Span<long> targets, Span<long> segments)
    {
        Fill(index, inputs, targets);
        if (segments.IsEmpty) return;
        int t = 0, segment = 0;
        foreach (var length in rows[index].Lengths)
        {
            segments.Slice(t, Math.Min(length, SeqLen - t)).Fill(segment++);
            t += length;
            if (t >= SeqLen) return; // the row's last token is only a target
        }
        segments[t..SeqLen].Fill(segment);
    }
}
