namespace Substrate.Data.Instructions;

/// <summary>
/// Supervised examples packed into fixed rows of T+1 tokens: inputs are row[0..T), targets row[1..T+1) with
/// <see cref="Ignore"/> wherever the target is not a trained token — prompt tokens, padding, and the first
/// token of each packed example (never predicted from the example before it). Examples are placed whole,
/// first-fit in order; one longer than a row is cut to T+1 tokens (counted in <see cref="Truncated"/>).
/// Packed examples share a row's attention window (as in TRL's packing); the loss never crosses them.
/// </summary>
public sealed class PackedRows
{
    public const long Ignore = -100;

    private readonly List<(int[] Ids, bool[] Train)> rows = [];

    public PackedRows(IEnumerable<SupervisedExample> examples, int seqLen, int padId, bool pack = true)
    {
        SeqLen = seqLen;
        PadId = padId;
        var open = new List<(List<int> Ids, List<bool> Train)>();
        foreach (var e in examples)
        {
            int[] ids = e.Ids;
            bool[] train = e.Train;
            if (ids.Length > seqLen + 1) { ids = ids[..(seqLen + 1)]; train = train[..(seqLen + 1)]; Truncated++; }
            if (!train.Skip(1).Contains(true)) { Dropped++; continue; } // nothing left to learn after the cut
            Examples++;
            var row = pack ? open.FirstOrDefault(r => r.Ids.Count + ids.Length <= seqLen + 1) : default;
            if (row.Ids is null) { row = ([], []); open.Add(row); }
            row.Ids.AddRange(ids);
            row.Train.Add(false); // the example's first token is never a target
            row.Train.AddRange(train.Skip(1));
        }
        foreach (var (ids, train) in open) rows.Add((ids.ToArray(), train.ToArray()));
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
        var (ids, train) = rows[index];
        for (int t = 0; t < SeqLen; t++)
        {
            inputs[t] = t < ids.Length ? ids[t] : PadId;
            targets[t] = t + 1 < ids.Length && train[t + 1] ? ids[t + 1] : Ignore;
        }
    }
}
