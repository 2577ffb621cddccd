namespace Substrate.Data.Tests;

public class TokenDatasetTests
{
    static string Prepare(TempDirectory dir, int documents = 40, long maxTokensPerShard = 1L << 27)
    {
        CorpusWriter.WriteJsonlGz(dir.Combine("c.jsonl.gz"), CorpusWriter.Documents(documents));
        DataPreparer.Prepare(new ByteTokenizer(), new DataPrepareOptions
        {
            Inputs = [dir.Combine("c.jsonl.gz")], OutputDirectory = dir.Combine("out"), ValidationEvery = 0, MaxTokensPerShard = maxTokensPerShard,
        });
        return dir.Combine("out");
    }

    [Fact]
    public void RandomBatchesArePureFunctionsOfSeedStepAndMicroStep()
    {
        using var dir = new TempDirectory();
        using var data = TokenDataset.Open(Prepare(dir, maxTokensPerShard: 300), "train");
        const int B = 4, T = 16;
        long[] Batch(ulong seed, long step, int micro)
        {
            var (x, y) = (new long[B * T], new long[B * T]);
            data.ReadRandomBatch(seed, step, micro, B, T, x, y);
            var all = data.ReadAll();
            // Targets are the inputs shifted by one, and every row is a real window of the split.
            for (int r = 0; r < B; r++)
            {
                Assert.Equal(x.AsSpan(r * T + 1, T - 1).ToArray(), y.AsSpan(r * T, T - 1).ToArray());
                Assert.True(IndexOf(all, x.AsSpan(r * T, T).ToArray()) >= 0);
            }
            return x;
        }
        Assert.Equal(Batch(7, 12, 1), Batch(7, 12, 1));
        Assert.NotEqual(Batch(7, 12, 1), Batch(7, 13, 1));
        Assert.NotEqual(Batch(7, 12, 1), Batch(7, 12, 0));
        Assert.NotEqual(Batch(7, 12, 1), Batch(8, 12, 1));
    }

    [Fact]
    public void RandomWindowsHaveAPinnedStart()
    {
        // Pins the sampler: changing the hash would silently change every resumed run's data order.
        using var dir = new TempDirectory();
        using var data = TokenDataset.Open(Prepare(dir), "train");
        var (x, y) = (new long[8], new long[8]);
        data.ReadRandomBatch(1234, 5, 0, 1, 8, x, y);
        var all = data.ReadAll();
        Assert.Equal(PinnedStart, IndexOf(all, x));
    }
    const int PinnedStart = 387;

    [Fact]
    public void SequentialBatchesWalkTheSplitInOrderAndWrap()
    {
        using var dir = new TempDirectory();
        using var data = TokenDataset.Open(Prepare(dir), "train");
        var all = data.ReadAll();
        const int B = 3, T = 10;
        long windows = data.SequentialWindows(T);
        Assert.Equal((all.Length - 1) / T, windows);
        var (x, y) = (new long[B * T], new long[B * T]);
        data.ReadSequentialBatch(1, B, T, x, y);
        Assert.Equal(all.AsSpan(3 * T, B * T).ToArray(), x);
        Assert.Equal(all.AsSpan(3 * T + 1, B * T).ToArray(), y);
        data.ReadSequentialBatch(windows, 1, T, x.AsSpan(0, T), y.AsSpan(0, T)); // window index `windows` wraps to 0
        Assert.Equal(all.AsSpan(0, T).ToArray(), x.AsSpan(0, T).ToArray());
    }

    [Fact]
    public void TruncatedShardIsInvalidData()
    {
        using var dir = new TempDirectory();
        var output = Prepare(dir);
        var shard = Path.Combine(output, "train-00000.bin");
        using (var stream = new FileStream(shard, FileMode.Open)) stream.SetLength(stream.Length - 1);
        var error = Assert.Throws<InvalidDataException>(() => TokenDataset.Open(output, "train"));
        Assert.Contains("train-00000.bin", error.Message);
        Assert.Contains("truncated or corrupt", error.Message);
    }

    [Fact]
    public void MissingShardAndMissingSplitAreInvalidData()
    {
        using var dir = new TempDirectory();
        var output = Prepare(dir);
        Assert.Throws<InvalidDataException>(() => TokenDataset.Open(output, "test"));
        File.Delete(Path.Combine(output, "train-00000.bin"));
        Assert.Contains("missing", Assert.Throws<InvalidDataException>(() => TokenDataset.Open(output, "train")).Message);
    }

    [Fact]
    public void TooShortSplitGivesAClearError()
    {
        using var dir = new TempDirectory();
        using var data = TokenDataset.Open(Prepare(dir, documents: 1), "train");
        var (x, y) = (new long[1000], new long[1000]);
        Assert.Contains("too little data", Assert.Throws<InvalidDataException>(() => data.ReadRandomBatch(1, 0, 0, 1, 1000, x, y)).Message);
    }

    static int IndexOf(long[] haystack, long[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }
}
