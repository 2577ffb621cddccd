namespace Substrate.Data.Tests;

public class DataPreparerTests
{
    [Fact]
    public void ShardsRoundTripExactIdsAcrossShardBoundaries()
    {
        using var dir = new TempDirectory();
        var docs = CorpusWriter.Documents(50);
        CorpusWriter.WriteJsonlGz(dir.Combine("train.jsonl.gz"), docs);
        var meta = DataPreparer.Prepare(new ByteTokenizer(), new DataPrepareOptions
        {
            Inputs = [dir.Combine("train.jsonl.gz")], OutputDirectory = dir.Combine("out"),
            ValidationEvery = 0, MaxTokensPerShard = 100, TokenizerFingerprint = "fake",
        });

        Assert.Equal("uint16", meta.Dtype);
        Assert.Equal(257, meta.VocabSize);
        Assert.Equal(256, meta.EosTokenId);
        var expected = CorpusWriter.Expected(docs);
        Assert.Equal(expected.Length, meta.Splits["train"].Tokens);
        Assert.True(meta.Splits["train"].Shards.Count > 5);
        Assert.Equal("train-00000.bin", meta.Splits["train"].Shards[0].File);
        Assert.All(meta.Splits["train"].Shards.SkipLast(1), s => Assert.Equal(100, s.Tokens));
        Assert.Equal(0, meta.Splits["validation"].Tokens);
        Assert.Equal(200, new FileInfo(dir.Combine("out", "train-00000.bin")).Length);

        using var data = TokenDataset.Open(dir.Combine("out"), "train");
        Assert.Equal(expected, data.ReadAll());
        Assert.Empty(Directory.GetFiles(dir.Combine("out"), "*.tmp"));
    }

    [Fact]
    public void EveryNthDocumentGoesToValidation()
    {
        using var dir = new TempDirectory();
        var docs = CorpusWriter.Documents(30);
        CorpusWriter.WriteJsonlGz(dir.Combine("corpus.jsonl.gz"), docs);
        var meta = DataPreparer.Prepare(new ByteTokenizer(), new DataPrepareOptions
        {
            Inputs = [dir.Path], OutputDirectory = dir.Combine("out"), ValidationEvery = 10, DocumentsPerChunk = 4,
        });

        Assert.Equal(27, meta.Splits["train"].Documents);
        Assert.Equal(3, meta.Splits["validation"].Documents);
        using var validation = TokenDataset.Open(dir.Combine("out"), "validation");
        Assert.Equal(CorpusWriter.Expected([docs[9], docs[19], docs[29]]), validation.ReadAll());
        using var train = TokenDataset.Open(dir.Combine("out"), "train");
        Assert.Equal(CorpusWriter.Expected(docs.Where((_, i) => i % 10 != 9)), train.ReadAll());
    }

    [Fact]
    public void ValidationFilesFormTheValidationSplitAndTextFilesAreDocuments()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("corpus"));
        CorpusWriter.WriteJsonlGz(dir.Combine("corpus", "train.jsonl.gz"), ["alpha", "beta"]);
        CorpusWriter.WriteJsonlGz(dir.Combine("corpus", "validation.jsonl.gz"), ["gamma"]);
        File.WriteAllText(dir.Combine("extra.txt"), "delta\nline two");
        File.WriteAllText(dir.Combine("tok.json"), "{}");
        var meta = DataPreparer.Prepare(new ByteTokenizer(), new DataPrepareOptions
        {
            Inputs = [dir.Combine("corpus"), dir.Combine("extra.txt")], OutputDirectory = dir.Combine("out"),
            TokenizerFile = dir.Combine("tok.json"),
        });

        Assert.StartsWith("validation files: validation.jsonl.gz", meta.ValidationRule);
        Assert.Equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", meta.TokenizerFingerprint);
        Assert.True(File.Exists(dir.Combine("out", "tokenizer.json")));
        using var train = TokenDataset.Open(dir.Combine("out"), "train");
        Assert.Equal(CorpusWriter.Expected(["alpha", "beta", "delta\nline two"]), train.ReadAll());
        using var validation = TokenDataset.Open(dir.Combine("out"), "validation");
        Assert.Equal(CorpusWriter.Expected(["gamma"]), validation.ReadAll());
    }

    [Fact]
    public void LargeVocabularyUsesUint32AndOutputDoesNotDependOnThreads()
    {
        using var dir = new TempDirectory();
        var docs = CorpusWriter.Documents(200);
        CorpusWriter.WriteJsonlGz(dir.Combine("c.jsonl.gz"), docs);
        byte[] Prepare(int threads, string name)
        {
            var meta = DataPreparer.Prepare(new ByteTokenizer(70000), new DataPrepareOptions
            {
                Inputs = [dir.Combine("c.jsonl.gz")], OutputDirectory = dir.Combine(name), Threads = threads, DocumentsPerChunk = 3, ValidationEvery = 0,
            });
            Assert.Equal("uint32", meta.Dtype);
            return File.ReadAllBytes(dir.Combine(name, "train-00000.bin"));
        }
        var one = Prepare(1, "one");
        Assert.Equal(one, Prepare(4, "four"));
        using var data = TokenDataset.Open(dir.Combine("one"), "train");
        Assert.Equal(CorpusWriter.Expected(docs, eos: 69999), data.ReadAll());
    }

    [Fact]
    public void ProgressIsReported()
    {
        using var dir = new TempDirectory();
        CorpusWriter.WriteJsonlGz(dir.Combine("c.jsonl.gz"), CorpusWriter.Documents(20));
        var reports = new List<DataPrepareProgress>();
        DataPreparer.Prepare(new ByteTokenizer(), new DataPrepareOptions
        {
            Inputs = [dir.Combine("c.jsonl.gz")], OutputDirectory = dir.Combine("out"), DocumentsPerChunk = 5, ValidationEvery = 0,
        }, new SyncProgress<DataPrepareProgress>(reports.Add));
        Assert.Equal(4, reports.Count);
        Assert.Equal(20, reports[^1].Documents);
    }
}

/// <summary>IProgress that calls back on the reporting thread (Progress&lt;T&gt; posts asynchronously).</summary>
sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
