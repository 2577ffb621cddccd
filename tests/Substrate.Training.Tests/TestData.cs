using System.Text;
using Substrate.Data;
using Substrate.Tokenizers;

namespace Substrate.Training.Tests;

/// <summary>A fake tokenizer: UTF-8 bytes are the ids, EOS is 256.</summary>
sealed class ByteTokenizer : ITokenizer
{
    public int VocabSize => 257;
    public SpecialTokenIds Special => new(null, 256, null);
    public int[] Encode(string text, bool addSpecialTokens = false) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => "";
    public int? TokenToId(string token) => null;
    public string? IdToToken(int id) => null;
}

sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("substrate-train-").FullName;
    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

static class TestData
{
    /// <summary>A small, very regular corpus (byte tokens) prepared into <paramref name="directory"/>.</summary>
    public static string Prepare(string directory)
    {
        var corpus = System.IO.Path.Combine(directory, "corpus.txt.d");
        Directory.CreateDirectory(corpus);
        var words = new[] { "the cat sat on the mat. ", "a dog ran in the park. ", "we like small models. " };
        for (int i = 0; i < 60; i++)
            File.WriteAllText(System.IO.Path.Combine(corpus, $"doc{i:D3}.txt"),
                string.Concat(Enumerable.Range(0, 6).Select(k => words[(i + k) % 3])));
        var output = System.IO.Path.Combine(directory, "data");
        DataPreparer.Prepare(new ByteTokenizer(), new DataPrepareOptions
        {
            Inputs = [corpus], OutputDirectory = output, ValidationEvery = 10, TokenizerFingerprint = "test-bytes",
        });
        return output;
    }

    /// <summary>A model of a few thousand parameters and a short, fast schedule.</summary>
    public static readonly string[] TinyRun =
    [
        "hidden_size=32", "num_hidden_layers=2", "num_attention_heads=2", "num_key_value_heads=1", "intermediate_size=64",
        "max_position_embeddings=64", "batch_size=4", "seq_len=32", "lr=1e-2", "min_lr=1e-3", "warmup_steps=5",
        "eval_every=10", "eval_batches=2", "dtype=float32",
    ];
}
