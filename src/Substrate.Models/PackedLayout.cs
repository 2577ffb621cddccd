using static TorchSharp.torch;

namespace Substrate.Models;

/// <summary>
/// Several examples packed into each row of a (B, T) batch, told apart by per-token segment ids (as Hugging Face's
/// packing with <c>position_ids</c>, or flash-attention's varlen): every example gets its own rotary positions,
/// restarting at 0, and attends only to its own earlier tokens (a block-diagonal causal mask). Padding after the
/// last example should carry a segment id of its own, so no query is left without a key. The tensors belong to
/// the dispose scope they were made in (one training step's).
/// </summary>
public sealed record PackedLayout(Tensor Positions, Tensor Mask)
{
    // Positions (B, T) int64: the token's index within its example.
    // Mask (B, 1, T, T) bool: true where the key is in the query's example and not after it; broadcasts over heads.

    /// <summary>The layout of <paramref name="segments"/> (B·T ids, row-major; a new id starts a new example —
    /// equal ids must be contiguous within a row).</summary>
    public static PackedLayout FromSegments(ReadOnlySpan<long> segments, int batch, int seqLen, Device device)
    {
        if (segments.Length != batch * seqLen)
            throw new ArgumentException($"segments: expected {batch}·{seqLen} ids, got {segments.Length}");
        var positions = new long[segments.Length];
        for (int b = 0; b < batch; b++)
            for (int t = 1; t < seqLen; t++)
            {
                int i = b * seqLen + t;
                positions[i] = segments[i] == segments[i - 1] ? positions[i - 1] + 1 : 0;
            }
        var ids = tensor(segments.ToArray(), [batch, seqLen], device: device);                       // (B, T)
        var sameExample = ids.unsqueeze(2).eq(ids.unsqueeze(1));                                    // (B, T, T): [b, query, key]
        var notAfter = ones(seqLen, seqLen, ScalarType.Bool, device).tril();                         // (T, T): key ≤ query
        return new PackedLayout(tensor(positions, [batch, seqLen], device: device), sameExample.logical_and(notAfter).unsqueeze(1));
    }
}
