using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers.Tests;

/// <summary>The heap merge loop (long words) against the plain scan loop it replaces.</summary>
public class MergeTableTests
{
    [Fact]
    public void Heap_and_scan_loops_agree()
    {
        var random = new Random(5);
        // Symbols 0..3; rules over them with random ranks, merged ids 10+.
        var table = new MergeTable();
        int next = 10, rank = 0;
        var symbols = Enumerable.Range(0, 4).ToList();
        for (int i = 0; i < 40; i++)
        {
            int l = symbols[random.Next(symbols.Count)], r = symbols[random.Next(symbols.Count)];
            if (table.TryGet(l, r, out _, out _)) continue;
            table.Add(l, r, rank++, next);
            symbols.Add(next++);
        }
        for (int trial = 0; trial < 200; trial++)
        {
            var word = Enumerable.Range(0, random.Next(1, 300)).Select(_ => random.Next(4)).ToArray();
            var a = (int[])word.Clone();
            var b = (int[])word.Clone();
            int na = table.ApplyByScan(a), nb = table.ApplyWithHeap(b);
            Assert.Equal(a[..na], b[..nb]);
        }
    }

    [Fact]
    public void Leftmost_wins_among_equal_ranks()
    {
        var table = new MergeTable();
        table.Add(1, 1, 0, 5);
        int[] word = [1, 1, 1];
        int n = table.ApplyByScan(word);
        Assert.Equal([5, 1], word[..n]);
    }
}
