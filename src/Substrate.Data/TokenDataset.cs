using System.IO.MemoryMappedFiles;

namespace Substrate.Data;

/// <summary>
/// One split of a prepared token folder, memory-mapped. Reads (B, T) input/target batches as
/// windows of T+1 tokens: random windows that are a pure function of (seed, step, micro-step) —
/// so a resumed run needs nothing but the step to continue the same data order — and
/// sequential windows for fixed validation batches. Windows never cross a shard boundary.
/// </summary>
public sealed unsafe class TokenDataset : IDisposable
{
    readonly Shard[] _shards;
    readonly int _bytesPerToken;

    public TokenShardMeta Meta { get; }
    public string Split { get; }
    public long Tokens { get; }

    sealed class Shard(MemoryMappedFile file, MemoryMappedViewAccessor view, byte* data, long tokens)
    {
        public readonly MemoryMappedFile File = file;
        public readonly MemoryMappedViewAccessor View = view;
        public readonly byte* Data = data;
        public readonly long Tokens = tokens;
    }

    TokenDataset(TokenShardMeta meta, string split, Shard[] shards)
    {
        (Meta, Split, _shards, _bytesPerToken) = (meta, split, shards, meta.BytesPerToken);
        Tokens = shards.Sum(s => s.Tokens);
    }

    /// <summary>Opens one split; every shard's size must match meta.json (else <see cref="InvalidDataException"/>).</summary>
    public static TokenDataset Open(string directory, string split)
    {
        var meta = TokenShardMeta.Read(directory);
        if (!meta.Splits.TryGetValue(split, out var splitMeta))
            throw new InvalidDataException($"{directory}: no '{split}' split in {TokenShardMeta.FileName} (has: {string.Join(", ", meta.Splits.Keys)})");
        var shards = new List<Shard>();
        try
        {
            foreach (var entry in splitMeta.Shards)
            {
                var path = Path.Combine(directory, entry.File);
                if (!File.Exists(path))
                    throw new InvalidDataException($"shard '{path}' listed in {TokenShardMeta.FileName} is missing");
                long expected = entry.Tokens * meta.BytesPerToken, actual = new FileInfo(path).Length;
                if (actual != expected)
                    throw new InvalidDataException(
                        $"shard '{path}' is {actual} bytes but {TokenShardMeta.FileName} says {entry.Tokens} {meta.Dtype} tokens = {expected} bytes: "
                        + $"truncated or corrupt; prepare the data again");
                if (entry.Tokens == 0) continue;
                var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
                var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                byte* data = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref data);
                shards.Add(new Shard(file, view, data + view.PointerOffset, entry.Tokens));
            }
            return new TokenDataset(meta, split, shards.ToArray());
        }
        catch
        {
            foreach (var shard in shards) Release(shard);
            throw;
        }
    }

    /// <summary>Token at a position of one shard.</summary>
    long TokenAt(Shard shard, long position) => _bytesPerToken == 2
        ? ((ushort*)shard.Data)[position]
        : ((uint*)shard.Data)[position];

    /// <summary>All ids of the split in order (tests and small splits only).</summary>
    public long[] ReadAll()
    {
        var all = new long[Tokens];
        long k = 0;
        foreach (var shard in _shards)
            for (long i = 0; i < shard.Tokens; i++) all[k++] = TokenAt(shard, i);
        return all;
    }

    /// <summary>
    /// Fills a (B, T) batch of random windows: row r of micro-step m of step s starts at a position
    /// drawn from hash(seed, s, m, r), uniform over every start whose T+1 tokens lie in one shard.
    /// <paramref name="inputs"/> and <paramref name="targets"/> are (B*T) row-major; targets are inputs shifted by one.
    /// <paramref name="firstRow"/> picks a slice of a larger global batch: rank k of N data-parallel ranks reads rows
    /// [k·B, (k+1)·B) of the N·B rows, so N ranks × B see exactly the rows one process × N·B does.
    /// </summary>
    public void ReadRandomBatch(ulong seed, long step, int microStep, int batchSize, int seqLen, Span<long> inputs, Span<long> targets,
        int firstRow = 0)
    {
        CheckBuffers(batchSize, seqLen, inputs, targets);
        long starts = 0;
        foreach (var shard in _shards) starts += Math.Max(0, shard.Tokens - seqLen);
        if (starts == 0)
            throw new InvalidDataException($"the '{Split}' split has no shard with more than {seqLen} tokens: too little data for seq_len {seqLen}");
        for (int r = 0; r < batchSize; r++)
        {
            ulong h = Mix(seed ^ Mix((ulong)step ^ Mix((ulong)microStep ^ Mix((ulong)(firstRow + r)))));
            long pick = (long)(((UInt128)h * (ulong)starts) >> 64); // uniform in [0, starts)
            foreach (var shard in _shards)
            {
                long count = Math.Max(0, shard.Tokens - seqLen);
                if (pick < count) { CopyWindow(shard, pick, seqLen, inputs.Slice(r * seqLen, seqLen), targets.Slice(r * seqLen, seqLen)); break; }
                pick -= count;
            }
        }
    }

    /// <summary>Number of non-overlapping windows (stride T, T+1 tokens each) the split holds.</summary>
    public long SequentialWindows(int seqLen) => _shards.Sum(s => Math.Max(0, (s.Tokens - 1) / seqLen));

    /// <summary>
    /// Fills a (B, T) batch of the split's windows in order: row r holds window (index*B + r) mod
    /// <see cref="SequentialWindows"/>. Used for fixed validation batches.
    /// </summary>
    /// <remarks>A data-parallel rank reads its rows [<paramref name="firstRow"/>, +B) of a global batch of
    /// <paramref name="globalBatchSize"/> rows: window (index·globalB + firstRow + r).</remarks>
    public void ReadSequentialBatch(long index, int batchSize, int seqLen, Span<long> inputs, Span<long> targets,
        int firstRow = 0, int? globalBatchSize = null)
    {
        CheckBuffers(batchSize, seqLen, inputs, targets);
        long windows = SequentialWindows(seqLen);
        if (windows == 0)
            throw new InvalidDataException($"the '{Split}' split has no shard with more than {seqLen} tokens: too little data for seq_len {seqLen}");
        for (int r = 0; r < batchSize; r++)
        {
            long k = (index * (globalBatchSize ?? batchSize) + firstRow + r) % windows;
            foreach (var shard in _shards)
            {
                long count = Math.Max(0, (shard.Tokens - 1) / seqLen);
                if (k < count) { CopyWindow(shard, k * seqLen, seqLen, inputs.Slice(r * seqLen, seqLen), targets.Slice(r * seqLen, seqLen)); break; }
                k -= count;
            }
        }
    }

    void CopyWindow(Shard shard, long start, int seqLen, Span<long> inputs, Span<long> targets)
    {
        long previous = TokenAt(shard, start);
        for (int t = 0; t < seqLen; t++)
        {
            inputs[t] = previous;
            previous = TokenAt(shard, start + t + 1);
            targets[t] = previous;
        }
    }

    static void CheckBuffers(int batchSize, int seqLen, Span<long> inputs, Span<long> targets)
    {
        if (batchSize < 1 || seqLen < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size and sequence length must be positive");
        if (inputs.Length != batchSize * seqLen || targets.Length != batchSize * seqLen)
            throw new ArgumentException($"inputs and targets must hold B*T = {batchSize * seqLen} ids");
    }

    /// <summary>SplitMix64's finalizer: a bijective 64-bit mix.</summary>
    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    static void Release(Shard shard)
    {
        shard.View.SafeMemoryMappedViewHandle.ReleasePointer();
        shard.View.Dispose();
        shard.File.Dispose();
    }

    public void Dispose()
    {
        foreach (var shard in _shards) Release(shard);
    }
}
