using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Store;

/// <summary>The int8 candidate path of <see cref="VectorIndex"/> against exact search, and its rows kept in step with
/// appends and removals.</summary>
public class VectorIndexTests
{
    const int D = 384;

    static float[] UnitRows(Random random, int rows)
    {
        var matrix = new float[rows * D];
        for (int i = 0; i < matrix.Length; i++) matrix[i] = (float)(random.NextDouble() * 2 - 1);
        for (int r = 0; r < rows; r++)
        {
            var row = matrix.AsSpan(r * D, D);
            System.Numerics.Tensors.TensorPrimitives.Divide(row, System.Numerics.Tensors.TensorPrimitives.Norm(row), row);
        }
        return matrix;
    }

    static VectorIndex Index(float[] matrix, int quantizedFrom) =>
        new(Enumerable.Range(1, matrix.Length / D).Select(i => (long)i).ToArray(),
            Enumerable.Range(0, matrix.Length / D).Select(i => i % 2 == 0 ? "/even" : "/odd").ToArray(), matrix, D, quantizedFrom);

    [Fact]
    public void AHugeTopOnTheInt8PathReturnsEveryRowAsExactSearchDoes()
    {
        var random = new Random(4);
        var index = Index(UnitRows(random, 300), quantizedFrom: 100);
        Assert.True(index.IsQuantized);
        var query = UnitRows(random, 1);
        foreach (var top in new[] { int.MaxValue, int.MaxValue / 4 + 1, 1_000_000 })
            Assert.Equal(index.SearchExact(query, top), index.Search(query, top));
        Assert.Equal(300, index.Search(query, int.MaxValue).Count);
    }

    [Fact]
    public void Int8CandidatesWithExactRerankFindTheExactTopTen()
    {
        var random = new Random(3);
        var matrix = UnitRows(random, 20_000);
        var index = Index(matrix, quantizedFrom: 1000);
        Assert.True(index.IsQuantized);
        int found = 0, queries = 40;
        for (int q = 0; q < queries; q++)
        {
            var query = UnitRows(random, 1);
            var exact = index.SearchExact(query, 10);
            var fast = index.Search(query, 10);
            found += fast.Select(f => f.Id).Intersect(exact.Select(e => e.Id)).Count();
            foreach (var (id, score) in fast) Assert.Equal(System.Numerics.Tensors.TensorPrimitives.Dot(query, matrix.AsSpan((int)(id - 1) * D, D)), score, 1e-6);   // reranked: exact scores
        }
        Assert.True(found >= 0.95 * queries * 10, $"recall@10 {found / (queries * 10.0)}");
        var filtered = index.Search(UnitRows(random, 1), 10, "/odd");
        Assert.All(filtered, f => Assert.Equal(0, f.Id % 2));   // row 1 is id 2: odd rows hold even ids
    }

    [Fact]
    public void AddsAndRemovalsLeaveTheIndexAFreshOneWouldBe()
    {
        var random = new Random(9);
        var matrix = UnitRows(random, 3000);
        var index = Index(matrix[..(2000 * D)], quantizedFrom: 1500);
        var extra = Enumerable.Range(2000, 1000).Select(r => (ReadOnlyMemory<float>)matrix.AsMemory(r * D, D)).ToList();
        index.Add(Enumerable.Range(2001, 1000).Select(i => (long)i).ToList(), "/odd", extra);
        var removed = Enumerable.Range(1, 3000).Where(i => i % 3 != 0).Select(i => (long)i).ToList();   // past half: squeezed
        index.Remove(removed);
        Assert.Equal(1000, index.Count);
        var keptRows = Enumerable.Range(1, 3000).Where(i => i % 3 == 0).ToList();
        var fresh = new VectorIndex(keptRows.Select(i => (long)i).ToArray(), keptRows.Select(_ => "p").ToArray(),
            keptRows.SelectMany(i => matrix.AsSpan((i - 1) * D, D).ToArray()).ToArray(), D, quantizedFromRows: 500);
        for (int q = 0; q < 5; q++)
        {
            var query = UnitRows(random, 1);
            Assert.Equal(fresh.SearchExact(query, 10), index.SearchExact(query, 10));
            Assert.Equal(fresh.Search(query, 10), index.Search(query, 10));
        }
    }

    [Fact]
    public void AQueryHoldingNaNOrInfinityIsOneClearError()
    {
        var random = new Random(8);
        foreach (var quantizedFrom in new[] { 100, 1000 })
        {
            var index = Index(UnitRows(random, 300), quantizedFrom);
            foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                var query = UnitRows(random, 1);
                query[5] = bad;
                var error = Assert.Throws<ArgumentException>(() => index.Search(query, 10));
                Assert.Contains("dimension 5", error.Message);
                Assert.Throws<ArgumentException>(() => index.SearchExact(query, 10));
            }
        }
    }

    [Fact]
    public void Int8DotIsThePlainSum()
    {
        var random = new Random(1);
        foreach (var n in new[] { 1, 31, 32, 63, 64, 100, 384 })
        {
            var a = Enumerable.Range(0, n).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();
            var b = Enumerable.Range(0, n).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();
            Assert.Equal(a.Zip(b, (x, y) => x * y).Sum(), Int8Rows.Dot(a, b));
        }
    }
}
