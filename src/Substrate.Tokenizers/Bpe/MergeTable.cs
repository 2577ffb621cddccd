namespace Substrate.Tokenizers.Bpe;

/// <summary>
/// BPE merge rules as (left id, right id) → (rank, merged id), and the merge loop: repeatedly merge
/// the adjacent pair with the lowest rank, leftmost first — what HF tokenizers' BPE and tiktoken do.
/// </summary>
public sealed class MergeTable
{
    private readonly Dictionary<long, (int Rank, int Id)> _merges;

    // Words longer than this use the heap loop (O(n log n)); shorter ones the scan loop, which is faster there.
    private const int HeapThreshold = 48;

    public MergeTable(int capacity = 0) => _merges = new Dictionary<long, (int, int)>(capacity);

    public int Count => _merges.Count;

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Adds a rule; an existing rule for the same pair keeps the lower rank.</summary>
    public void Add(int left, int right, int rank, int mergedId)
    {
        ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_merges, Key(left, right), out bool exists);
        if (!exists || rank < slot.Rank) slot = (rank, mergedId);
    }

    public bool TryGet(int left, int right, out int rank, out int mergedId)
    {
        if (_merges.TryGetValue(Key(left, right), out var m))
        {
            rank = m.Rank;
            mergedId = m.Id;
            return true;
        }
        rank = 0;
        mergedId = 0;
        return false;
    }

    /// <summary>Merges <paramref name="symbols"/> in place; returns how many remain at its start.</summary>
    public int Apply(Span<int> symbols) =>
        symbols.Length > HeapThreshold ? ApplyWithHeap(symbols) : ApplyByScan(symbols);

    /// <summary>The plain loop: scan all adjacent pairs, merge the best, repeat. The reference the heap loop is tested against.</summary>
    public int ApplyByScan(Span<int> symbols)
    {
        int n = symbols.Length;
        if (n < 2) return n;
        // ranks[i]: rank of the pair (i, i+1), int.MaxValue when no rule; only the merged neighbours change per step.
        Span<int> ranks = n <= 256 ? stackalloc int[n] : new int[n];
        Span<int> ids = n <= 256 ? stackalloc int[n] : new int[n];
        for (int i = 0; i < n - 1; i++) Lookup(symbols[i], symbols[i + 1], out ranks[i], out ids[i]);
        while (n > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i < n - 1; i++)
            {
                if (ranks[i] < bestRank) { bestRank = ranks[i]; best = i; }
            }
            if (best < 0) break;
            symbols[best] = ids[best];
            symbols.Slice(best + 2, n - best - 2).CopyTo(symbols.Slice(best + 1));
            ranks.Slice(best + 2, n - best - 2).CopyTo(ranks.Slice(best + 1));
            ids.Slice(best + 2, n - best - 2).CopyTo(ids.Slice(best + 1));
            n--;
            if (best > 0) Lookup(symbols[best - 1], symbols[best], out ranks[best - 1], out ids[best - 1]);
            if (best < n - 1) Lookup(symbols[best], symbols[best + 1], out ranks[best], out ids[best]);
        }
        return n;
    }

    /// <summary>
    /// The loop for long words (SentencePiece-style text without pre-tokenization is one word):
    /// a doubly linked list of symbols and a min-heap of (rank, position) with lazy deletion.
    /// </summary>
    public int ApplyWithHeap(Span<int> symbols)
    {
        int n = symbols.Length;
        if (n < 2) return n;
        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; alive[i] = true; }
        var heap = new PriorityQueue<(int Pos, int Left, int Right, int Id), (int Rank, int Pos)>();
        for (int i = 0; i < n - 1; i++) Push(heap, symbols, i, i + 1);
        while (heap.TryDequeue(out var m, out var priority))
        {
            int pos = m.Pos, right = next[pos];
            // Stale entry: a neighbour merged since it was pushed.
            if (!alive[pos] || right < 0 || symbols[pos] != m.Left || symbols[right] != m.Right) continue;
            symbols[pos] = m.Id;
            alive[right] = false;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) Push(heap, symbols, prev[pos], pos);
            if (next[pos] >= 0) Push(heap, symbols, pos, next[pos]);
        }
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) symbols[count++] = symbols[i];
        return count;
    }

    private void Push(PriorityQueue<(int, int, int, int), (int, int)> heap, Span<int> symbols, int pos, int right)
    {
        if (TryGet(symbols[pos], symbols[right], out int rank, out int id))
            heap.Enqueue((pos, symbols[pos], symbols[right], id), (rank, pos));
    }

    private void Lookup(int left, int right, out int rank, out int id)
    {
        if (!TryGet(left, right, out rank, out id)) rank = int.MaxValue;
    }
}
