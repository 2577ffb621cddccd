using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

public class KvCacheTests
{
    [Fact]
    public void UpdateWritesInPlaceAndReturnsThePrefix()
    {
        using var cache = new KvCache(layers: 2, batch: 1, kvHeads: 2, maxLength: 8, headDim: 4, ScalarType.Float32);
        using var k1 = ones(1, 2, 3, 4);
        using var v1 = ones(1, 2, 3, 4) * 2;
        var (k, v) = cache.Update(1, k1, v1, start: 0);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, k.shape);
        using var k2 = full(new long[] { 1, 2, 1, 4 }, 5f);
        (k, v) = cache.Update(1, k2, k2, start: 3);
        Assert.Equal(new long[] { 1, 2, 4, 4 }, k.shape);
        Assert.Equal(new float[] { 1, 1, 1, 5 }, k[0, 0, .., 0].data<float>().ToArray());
        Assert.Equal(new float[] { 2, 2, 2, 5 }, v[0, 1, .., 3].data<float>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Update(0, k1, v1, start: 6));
    }

    [Fact]
    public void CacheTensorsOutliveTheDisposeScopeTheyWereMadeIn()
    {
        KvCache cache;
        using (NewDisposeScope()) cache = new KvCache(1, 1, 1, 4, 2, ScalarType.BFloat16);
        using (cache)
        {
            using var k = ones(1, 1, 1, 2, ScalarType.BFloat16);
            var (keys, _) = cache.Update(0, k, k, 0);
            Assert.Equal(ScalarType.BFloat16, keys.dtype);
        }
    }
}
