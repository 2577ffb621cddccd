using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

/// <summary>The slot operations continuous batching uses: a row's own view, per-row positions, row copies.</summary>
public class KvCacheSlotTests
{
    [Fact]
    public void Rows_write_at_their_own_positions_and_row_views_share_storage()
    {
        using var cache = new KvCache(layers: 1, batch: 3, kvHeads: 2, maxLength: 6, headDim: 2, ScalarType.Float32);
        using (var row1 = cache.Row(1))
        {
            using var prompt = ones(1, 2, 3, 2) * 7;          // a 3-token prompt prefilled into slot 1
            row1.Update(0, prompt, prompt, 0);
        }
        using var positions = tensor(new long[] { 0, 3 });   // slot 0 at position 0, slot 1 at position 3
        using var k = tensor(new float[] { 1, 1, 1, 1, 2, 2, 2, 2 }).view(2, 2, 1, 2); // (B=2, nKv, 1, hd)
        var (keys, _) = cache.UpdateRows(0, k, k, new KvCacheRows(positions, Span: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.UpdateRows(0, k, k, new KvCacheRows(positions, Span: 7)));
        Assert.Equal(new long[] { 2, 2, 4, 2 }, keys.shape);
        Assert.Equal(new float[] { 1, 0, 0, 0 }, keys[0, 0, .., 0].data<float>().ToArray());
        Assert.Equal(new float[] { 7, 7, 7, 2 }, keys[1, 1, .., 1].data<float>().ToArray());

        cache.CopyRow(from: 1, to: 2, length: 4);
        using var row2 = cache.Row(2);
        var (copied, _) = row2.Update(0, ones(1, 2, 1, 2) * 9, ones(1, 2, 1, 2) * 9, start: 4);
        Assert.Equal(new float[] { 7, 7, 7, 2, 9 }, copied[0, 0, .., 0].data<float>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Row(3));
    }
}
