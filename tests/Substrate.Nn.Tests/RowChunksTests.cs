using Substrate.Nn.Kernels;

namespace Substrate.Nn.Tests;

public class RowChunksTests
{
    [Fact]
    public void EveryRowRunsOnceInItsFixedChunk()
    {
        const long rows = 1000;
        const int perChunk = 7;
        var seen = new int[rows];
        var chunkOf = new int[rows];
        RowChunks.For(rows, perChunk, (chunk, first, end) =>
        {
            for (long r = first; r < end; r++) { Interlocked.Increment(ref seen[r]); chunkOf[r] = chunk; }
        });
        Assert.All(seen, count => Assert.Equal(1, count));
        for (long r = 0; r < rows; r++) Assert.Equal(r / perChunk, chunkOf[r]);
    }

    [Fact]
    public void LibtorchsOpenMpThreadsRunTheChunks()
    {
        // libtorch loads its libgomp; the chunks then run on that team (the caller and its workers), each once.
        var runs = new int[64];
        Assert.True(OpenMpTeam.TryFor(runs.Length, 2, chunk => { Interlocked.Increment(ref runs[chunk]); Thread.SpinWait(1000); }));
        Assert.All(runs, count => Assert.Equal(1, count));
    }

    [Fact]
    public void AnExceptionInAChunkReachesTheCaller()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            RowChunks.For(100, 1, (chunk, _, _) => { if (chunk == 37) throw new InvalidOperationException("chunk 37"); }));
        Assert.Equal("chunk 37", error.Message);
    }
}
