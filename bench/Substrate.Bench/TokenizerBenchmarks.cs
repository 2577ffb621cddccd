using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Substrate.IO;
using Substrate.Tokenizers;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;

namespace Substrate.Bench;

/// <summary>
/// Tokenizer figures as JSON lines: encode MB/s (ours vs Microsoft.ML.Tokenizers, both from the same
/// GPT-2 r50k rank file, one thread) and BPE training time for 8,192 merges on 10 MB.
/// Text: $SUBSTRATE_BENCH_CORPUS, else data/corpus/train.jsonl.gz, else generated English-like text.
/// Ranks: $SUBSTRATE_BENCH_TIKTOKEN, else .cache/test-references (scripts/fetch-test-references.sh).
/// $SUBSTRATE_BENCH_TOKENIZER (a tokenizer.json or its folder) times that tokenizer alone instead.
/// </summary>
public static class TokenizerBenchmarks
{
    public static void Encode()
    {
        var (documents, corpusName) = Corpus(maxChars: 10_000_000);
        if (Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TOKENIZER") is { Length: > 0 } family)
        {
            EncodeFamily(documents, corpusName, family);
            return;
        }
        string ranks = RankFile();
        var ours = TiktokenFile.Load(ranks);
        TiktokenTokenizer reference;
        using (var stream = File.OpenRead(ranks)) reference = TiktokenTokenizer.CreateForModel("gpt2", stream);
        long bytes = documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d));

        // Same ids first, or the speed comparison means nothing.
        long mismatches = documents.Count(d => !reference.EncodeToIds(d).SequenceEqual(ours.Encode(d)));
        long tokens = documents.Sum(d => (long)ours.Encode(d).Length);
        double oursSeconds = BestOf(3, () => { foreach (var d in documents) ours.Encode(d); });
        double referenceSeconds = BestOf(3, () => { foreach (var d in documents) reference.EncodeToIds(d); });
        Emit(new
        {
            benchmark = "tokenizer-encode", corpus = corpusName, vocabulary = Path.GetFileName(ranks), bytes, tokens,
            threads = 1, ours_mb_per_s = Round(bytes / 1e6 / oursSeconds), ml_tokenizers_mb_per_s = Round(bytes / 1e6 / referenceSeconds),
            ids_differ_in_documents = mismatches, machine = Environment.ProcessorCount + " cores",
        });
    }

    // A family's tokenizer.json (folder or file), ours alone: the figure to watch when the HF loader changes.
    private static void EncodeFamily(List<string> documents, string corpusName, string path)
    {
        var ours = TokenizerLoader.Load(path);
        long bytes = documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d));
        long tokens = documents.Sum(d => (long)ours.Encode(d).Length);
        double seconds = BestOf(3, () => { foreach (var d in documents) ours.Encode(d); });
        // CPU seconds too: on a shared machine the wall clock measures the neighbours as much as the tokenizer.
        double cpuSeconds = BestOf(3, () => { foreach (var d in documents) ours.Encode(d); }, cpu: true);
        Emit(new
        {
            benchmark = "tokenizer-encode", corpus = corpusName, vocabulary = path, bytes, tokens,
            threads = 1, ours_mb_per_s = Round(bytes / 1e6 / seconds), ours_mb_per_cpu_s = Round(bytes / 1e6 / cpuSeconds),
            machine = Environment.ProcessorCount + " cores",
        });
    }

    public static void Train()
    {
        var (documents, corpusName) = Corpus(maxChars: 10_000_000);
        long bytes = documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d));
        const int merges = 8192;
        var options = new BpeTrainerOptions { VocabSize = 256 + BpeTrainerOptions.DefaultSpecialTokens.Count + merges };
        var clock = Stopwatch.StartNew();
        var tokenizer = BpeTrainer.Train(documents, options);
        double seconds = clock.Elapsed.TotalSeconds;
        Emit(new
        {
            benchmark = "tokenizer-train", corpus = corpusName, bytes, merges_requested = merges, merges_done = tokenizer.Merges!.Count,
            seconds = Round(seconds), machine = Environment.ProcessorCount + " cores",
        });
    }

    private static double BestOf(int runs, Action action, bool cpu = false)
    {
        action(); // warm-up: JIT and the pre-token caches of both tokenizers
        double best = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            var process = Process.GetCurrentProcess();
            var cpuBefore = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            action();
            process.Refresh();
            best = Math.Min(best, cpu ? (process.TotalProcessorTime - cpuBefore).TotalSeconds : clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    private static (List<string> Documents, string Name) Corpus(long maxChars)
    {
        string? path = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_CORPUS");
        if (string.IsNullOrEmpty(path) && RepoRoot() is { } root && File.Exists(Path.Combine(root, "data", "corpus", "train.jsonl.gz")))
            path = Path.Combine(root, "data", "corpus", "train.jsonl.gz");
        IEnumerable<string> source = string.IsNullOrEmpty(path) ? GeneratedText() : CorpusFiles.ReadDocuments([path]);
        var documents = new List<string>();
        long chars = 0;
        foreach (var d in source)
        {
            if (chars >= maxChars) break;
            var take = d.Length > maxChars - chars ? d[..(int)(maxChars - chars)] : d;
            documents.Add(take);
            chars += take.Length;
        }
        Console.Error.WriteLine($"corpus: {path ?? "generated"}, {documents.Count} documents, {chars / 1e6:F1} M chars");
        return (documents, path is null ? "generated" : Path.GetFileName(path));
    }

    // Fallback when no corpus is at hand: varied English-like text (the real corpus gives truer figures).
    private static IEnumerable<string> GeneratedText()
    {
        var random = new Random(42);
        string[] syllables = ["an", "ber", "cal", "dor", "en", "fi", "gra", "hol", "in", "jo", "ka", "lu", "men", "nor", "o", "pre", "qui", "ro", "sta", "tu", "ver", "wi"];
        while (true)
        {
            var sb = new StringBuilder();
            for (int w = 0; w < 300; w++)
            {
                int n = random.Next(1, 4);
                for (int s = 0; s < n; s++) sb.Append(syllables[(int)Math.Min(syllables.Length - 1, -Math.Log(random.NextDouble()) * 5)]);
                sb.Append(random.Next(12) == 0 ? ". " : random.Next(15) == 0 ? ", " : " ");
            }
            yield return sb.ToString();
        }
    }

    private static string RankFile()
    {
        string? path = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_TIKTOKEN");
        if (string.IsNullOrEmpty(path) && RepoRoot() is { } root)
            path = Path.Combine(root, ".cache", "test-references", "gpt-tokenizer-4.0.0", "data", "r50k_base.tiktoken");
        if (path is null || !File.Exists(path))
            throw new FileNotFoundException($"GPT-2 rank file not found ({path}); run scripts/fetch-test-references.sh or set SUBSTRATE_BENCH_TIKTOKEN");
        return path;
    }

    private static string? RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Substrate.slnx"))) return dir.FullName;
        return null;
    }

    private static double Round(double x) => Math.Round(x, 2);

    private static void Emit(object figure) => Console.WriteLine(JsonSerializer.Serialize(figure));
}
