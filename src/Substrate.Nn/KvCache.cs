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

    /// <summary>Forgets every position (the tensors are kept for reuse).</summary>
    public void Reset() => Length = 0;

    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}
