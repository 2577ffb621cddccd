using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// Keys and values of past positions for incremental decoding: per layer, preallocated
/// (B, nKv, maxT, hd) tensors written in place, plus the number of positions filled.
/// Owns its tensors (they live outside any dispose scope); dispose the cache when done.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] keys;   // per layer (B, nKv, maxT, hd)
    private readonly Tensor[] values; // per layer (B, nKv, maxT, hd)

    public KvCache(int layers, long batch, int kvHeads, long maxLength, int headDim, ScalarType dtype, Device? device = null)
    {
        if (layers <= 0 || batch <= 0 || kvHeads <= 0 || maxLength <= 0 || headDim <= 0)
            throw new ArgumentOutOfRangeException(nameof(layers), "KvCache dimensions must be positive.");
        keys = new Tensor[layers];
        values = new Tensor[layers];
        for (var i = 0; i < layers; i++)
        {
            keys[i] = zeros(new[] { batch, kvHeads, maxLength, headDim }, dtype, device).DetachFromDisposeScope();
            values[i] = zeros(new[] { batch, kvHeads, maxLength, headDim }, dtype, device).DetachFromDisposeScope();
        }
        Batch = batch;
        MaxLength = maxLength;
        Dtype = dtype;
    }

    private KvCache(Tensor[] keys, Tensor[] values, long maxLength, ScalarType dtype)
    {
        (this.keys, this.values) = (keys, values);
        Batch = keys[0].shape[0];
        MaxLength = maxLength;
        Dtype = dtype;
    }

    public int Layers => keys.Length;
    public long Batch { get; }
    public long MaxLength { get; }
    public ScalarType Dtype { get; }

    /// <summary>Positions filled so far (the next token's position). The model advances it after each forward.</summary>
    public long Length { get; set; }

    /// <summary>
    /// Writes k, v (B, nKv, T, hd) at positions [start, start+T) of layer <paramref name="layer"/> and
    /// returns views of positions [0, start+T): (B, nKv, start+T, hd) each.
    /// </summary>
    public (Tensor Keys, Tensor Values) Update(int layer, Tensor k, Tensor v, long start)
    {
        var length = k.shape[2];
        if (start < 0 || start + length > MaxLength)
            throw new ArgumentOutOfRangeException(nameof(start), $"KvCache holds {MaxLength} positions; cannot write [{start}, {start + length}).");
        using (no_grad())
        {
            using var kSlot = keys[layer].narrow(2, start, length);
            using var vSlot = values[layer].narrow(2, start, length);
            kSlot.copy_(k);
            vSlot.copy_(v);
        }
        return (keys[layer].narrow(2, 0, start + length), values[layer].narrow(2, 0, start + length));
    }

    /// <summary>Layer <paramref name="layer"/>'s whole key and value tensors, (B, nKv, maxT, hd) each, rotated keys;
    /// owned by the cache (do not dispose). For copying a prefilled cache elsewhere.</summary>
    public (Tensor Keys, Tensor Values) Layer(int layer) => (keys[layer], values[layer]);

    // ---- Slots: one row per sequence, each with its own length (continuous batching) ----

    /// <summary>A cache over row <paramref name="row"/> only (batch 1), sharing this cache's storage: prefill one
    /// sequence into its slot with the ordinary forward. Its Length is its own; dispose it when done (the storage stays).</summary>
    public KvCache Row(long row)
    {
        if (row < 0 || row >= Batch) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is outside [0, {Batch})");
        return new KvCache(keys.Select(t => t.narrow(0, row, 1).DetachFromDisposeScope()).ToArray(),
                           values.Select(t => t.narrow(0, row, 1).DetachFromDisposeScope()).ToArray(), MaxLength, Dtype);
    }

    /// <summary>Copies row <paramref name="from"/>'s first <paramref name="length"/> positions into row <paramref name="to"/> (slot compaction).</summary>
    public void CopyRow(long from, long to, long length)
    {
        if (from == to || length == 0) return;
        using var scope = NewDisposeScope();
        using (no_grad())
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i].narrow(0, to, 1).narrow(2, 0, length).copy_(keys[i].narrow(0, from, 1).narrow(2, 0, length));
                values[i].narrow(0, to, 1).narrow(2, 0, length).copy_(values[i].narrow(0, from, 1).narrow(2, 0, length));
            }
    }

    /// <summary>
    /// Batched decode: writes k, v (B, nKv, 1, hd) of rows [0, B) at each row's own position (<paramref name="rows"/>.Positions)
    /// and returns rows [0, B) over positions [0, rows.Span): (B, nKv, Span, hd) each (views). Positions past a row's own
    /// are stale (another sequence's or zeros): the caller masks them. The step's rows are a parameter: the cache keeps no
    /// per-step state.
    /// </summary>
    public (Tensor Keys, Tensor Values) UpdateRows(int layer, Tensor k, Tensor v, KvCacheRows rows)
    {
        var (b, kvHeads) = (k.shape[0], k.shape[1]);
        if (b > Batch || rows.Positions.shape[0] != b)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{b} rows with {rows.Positions.shape[0]} positions; the cache has {Batch} rows");
        if (rows.Span > MaxLength) throw new ArgumentOutOfRangeException(nameof(rows), $"KvCache holds {MaxLength} positions; cannot attend {rows.Span}.");
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var rowIndex = arange(b, ScalarType.Int64, k.device).view(b, 1);    // (B, 1)
            var heads = arange(kvHeads, ScalarType.Int64, k.device).view(1, -1); // (1, nKv)
            var at = rows.Positions.view(b, 1);                                 // (B, 1)
            keys[layer].index_put_(k.squeeze(2), rowIndex, heads, at);           // keys[b, h, pos_b, :] = k[b, h, 0, :]
            values[layer].index_put_(v.squeeze(2), rowIndex, heads, at);
        }
        return (keys[layer].narrow(0, 0, b).narrow(2, 0, rows.Span), values[layer].narrow(0, 0, b).narrow(2, 0, rows.Span));
    }

    /// <summary>Forgets every position (the tensors are kept for reuse).</summary>
    public void Reset() => Length = 0;

    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}

/// <summary>
/// One batched decode step's rows (continuous batching): row b of [0, B) writes its key and value at
/// <see cref="Positions"/>[b], (B) int64, and attends positions [0, <see cref="Span"/>) (the largest position + 1) of its
/// own cache row. The forward that decodes the step passes it down to every layer.
/// </summary>
public sealed record KvCacheRows(Tensor Positions, long Span);
