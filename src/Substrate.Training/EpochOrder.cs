namespace Substrate.Training;

/// <summary>
/// An endless stream over <paramref name="count"/> items that visits each once per epoch, in an order shuffled by
/// (seed, epoch): item k of the stream is a pure function of (seed, k), so a resumed run sees the same data.
/// </summary>
public sealed class EpochOrder(int count, long seed)
{
    private readonly Dictionary<long, int[]> orders = new();

    public int Count => count;

    /// <summary>The item at place <paramref name="k"/> of the stream (epoch k / count).</summary>
    public int At(long k)
    {
        long epoch = k / count;
        if (!orders.TryGetValue(epoch, out var order))
        {
            if (orders.Count > 4) orders.Clear();
            order = Enumerable.Range(0, count).ToArray();
            new Random(unchecked((int)(seed * 1_000_003 + epoch * 7919))).Shuffle(order); // seeded System.Random is stable across runs
            orders[epoch] = order;
        }
        return order[(int)(k % count)];
    }
}
