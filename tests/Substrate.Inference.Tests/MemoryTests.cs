using Substrate.Models;
using TorchSharp;

namespace Substrate.Inference.Tests;

public class MemoryTests
{
    private static long Live() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LiveTensorCountStaysFlatWhileDecodingAndReturnsAfterwards(bool useCache)
    {
        using var model = TinyModel.Create();
        var generator = new TokenGenerator(model);
        var options = new GenerationOptions { MaxTokens = 40, Temperature = 0.8, TopK = 20, TopP = 0.9, RepetitionPenalty = 1.2, Seed = 1, UseCache = useCache };
        _ = generator.Generate([256, 72, 105], options).Count(); // warm-up: rotary tables are built once and kept
        var before = Live();
        var counts = new List<long>();
        foreach (var _ in generator.Generate([256, 72, 105], options)) counts.Add(Live());
        Assert.Equal(40, counts.Count);
        Assert.Equal(counts[5], counts[^1]); // flat per token
        Assert.Equal(before, Live());          // the cache and sampler are released at the end
    }
}
