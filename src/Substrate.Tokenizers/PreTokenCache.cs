using System.Collections.Concurrent;

namespace Substrate.Tokenizers;

/// <summary>
/// Pre-token text → ids, shared by all threads. Text follows Zipf's law: a bounded cache of the
/// words seen first catches nearly all later ones, so encoding mostly skips the merge loop.
/// Lookups take a span, so a hit allocates nothing.
/// </summary>
internal sealed class PreTokenCache
{
    private readonly ConcurrentDictionary<string, int[]> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int _capacity;

    /// <summary>Pre-tokens longer than this are not cached (long whitespace runs, base64 blobs).</summary>
    public const int MaxKeyLength = 64;

    public PreTokenCache(int capacity = 200_000)
    {
        _capacity = capacity;
        _lookup = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public bool TryGet(ReadOnlySpan<char> piece, out int[] ids) => _lookup.TryGetValue(piece, out ids!);

    public void Add(ReadOnlySpan<char> piece, int[] ids)
    {
        if (piece.Length <= MaxKeyLength && _entries.Count < _capacity) _lookup.TryAdd(piece, ids);
    }
}
