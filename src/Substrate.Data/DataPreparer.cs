using System.Security.Cryptography;
using Substrate.IO;
using Substrate.Tokenizers;

namespace Substrate.Data;

/// <summary>What <see cref="DataPreparer.Prepare"/> reads and writes.</summary>
public sealed record DataPrepareOptions
{
    /// <summary>
    /// Corpus files or directories (see <see cref="CorpusFiles"/>). Files named validation*/valid*/val.* among them form the validation split.
    /// </summary>
    public required IReadOnlyList<string> Inputs { get; init; }
    /// <summary>Extra validation inputs (<c>--validation</c>); when any validation file is given, nothing is split off the training text.</summary>
    public IReadOnlyList<string> ValidationInputs { get; init; } = [];
    public required string OutputDirectory { get; init; }
    /// <summary>The tokenizer file (tokenizer.json); its sha256 becomes the fingerprint and it is copied into the output folder.</summary>
    public string? TokenizerFile { get; init; }
    /// <summary>Used when no <see cref="TokenizerFile"/> is given.</summary>
    public string? TokenizerFingerprint { get; init; }
    /// <summary>Without validation files, document i (0-based, in input order) goes to validation when i % N == N - 1. 0: no validation split.</summary>
    public int ValidationEvery { get; init; } = 100;
    /// <summary>Shard size cap; 2^27 tokens is 256 MiB of uint16.</summary>
    public long MaxTokensPerShard { get; init; } = 1L << 27;
    /// <summary>Tokenization threads; output order never depends on it.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int DocumentsPerChunk { get; init; } = 64;
}

/// <summary>Progress of a preparation: counts so far and the file being read.</summary>
public sealed record DataPrepareProgress(string File, long Documents, long TrainTokens, long ValidationTokens);

/// <summary>
/// Tokenizes a corpus into raw token shards plus <c>meta.json</c>, streaming: documents are read in
/// chunks, chunks are tokenized on worker threads and written in input order; each document is
/// followed by the EOS id. The tokenizer is called from several threads at once (set
/// <see cref="DataPrepareOptions.Threads"/> to 1 for one that is not thread-safe).
/// Validation: input files named validation*/valid*/val.* (or <see cref="DataPrepareOptions.ValidationInputs"/>)
/// form the validation split; without any, document i of the input (0-based, in order) goes to
/// validation when i % N == N − 1 (N = <see cref="DataPrepareOptions.ValidationEvery"/>, default 100).
/// </summary>
public static class DataPreparer
{
    public const string TrainSplit = "train";
    public const string ValidationSplit = "validation";

    /// <summary>As <see cref="Prepare(ITokenizer, DataPrepareOptions, IProgress{DataPrepareProgress}?, CancellationToken)"/> with the
    /// tokenizer at <paramref name="tokenizerPath"/> (a folder, tokenizer.json or a .tiktoken file): a tokenizer.json is
    /// fingerprinted and copied beside the shards; any other file is named by its file name.</summary>
    public static TokenShardMeta Prepare(string tokenizerPath, DataPrepareOptions options,
        IProgress<DataPrepareProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var tokenizer = TokenizerLoader.Load(tokenizerPath);
        var tokenizerFile = Directory.Exists(tokenizerPath) ? Path.Combine(tokenizerPath, "tokenizer.json") : tokenizerPath;
        bool json = File.Exists(tokenizerFile);
        return Prepare(tokenizer, options with
        {
            TokenizerFile = json ? tokenizerFile : null, TokenizerFingerprint = json ? null : Path.GetFileName(tokenizerPath),
        }, progress, cancellationToken);
    }

    /// <summary>One line per split: documents, tokens and shards.</summary>
    public static IEnumerable<string> Summary(TokenShardMeta meta) =>
        meta.Splits.Select(s => $"{s.Key}: {s.Value.Documents:N0} documents, {s.Value.Tokens:N0} tokens in {s.Value.Shards.Count} shard(s)");

    /// <summary>The live status of a preparation.</summary>
    public static string Status(DataPrepareProgress p) => $"{p.Documents:N0} documents, {p.TrainTokens + p.ValidationTokens:N0} tokens";

    public static TokenShardMeta Prepare(ITokenizer tokenizer, DataPrepareOptions options,
        IProgress<DataPrepareProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        int eos = tokenizer.Special.Eos ?? throw new ArgumentException("the tokenizer has no EOS (end-of-text) token to separate documents");
        var dtype = TokenDtype.For(tokenizer.VocabSize);
        int bytesPerToken = TokenDtype.BytesPerToken(dtype);
        var output = options.OutputDirectory;
        Directory.CreateDirectory(output);
        // A folder being rewritten must not look complete: meta.json goes first, stale shards after.
        File.Delete(Path.Combine(output, TokenShardMeta.FileName));
        foreach (var stale in Directory.EnumerateFiles(output, "*.bin*")) File.Delete(stale);

        var (trainFiles, validationFiles) = SplitInputs(options);
        bool splitOff = validationFiles.Count == 0 && options.ValidationEvery > 0;
        string rule = validationFiles.Count > 0 ? "validation files: " + string.Join(", ", validationFiles.Select(Path.GetFileName))
            : splitOff ? $"every {options.ValidationEvery}th document (index % {options.ValidationEvery} == {options.ValidationEvery - 1})"
            : "none";

        using var train = new TokenShardWriter(output, TrainSplit, bytesPerToken, options.MaxTokensPerShard);
        using var validation = new TokenShardWriter(output, ValidationSplit, bytesPerToken, options.MaxTokensPerShard);
        long documents = 0;
        string currentFile = "";
        var pending = new Queue<Task<(bool[] IsValidation, int[][] Ids)>>();
        int maxInFlight = Math.Max(1, options.Threads) * 2;

        void WriteOldest()
        {
            var (isValidation, ids) = pending.Dequeue().GetAwaiter().GetResult();
            for (int i = 0; i < ids.Length; i++)
                (isValidation[i] ? validation : train).AppendDocument(ids[i], eos);
            progress?.Report(new DataPrepareProgress(currentFile, documents, train.Tokens, validation.Tokens));
        }

        foreach (var (file, chunk, isValidation) in Chunks(trainFiles, validationFiles, options, splitOff))
        {
            cancellationToken.ThrowIfCancellationRequested();
            currentFile = file;
            documents += chunk.Length;
            pending.Enqueue(Task.Run(() => (isValidation, chunk.Select(text => tokenizer.Encode(text)).ToArray())));
            while (pending.Count >= maxInFlight) WriteOldest();
        }
        while (pending.Count > 0) WriteOldest();

        string fingerprint = options.TokenizerFingerprint ?? "";
        if (options.TokenizerFile is { } tokenizerFile)
        {
            fingerprint = FingerprintOf(tokenizerFile);
            AtomicFile.Copy(tokenizerFile, Path.Combine(output, "tokenizer.json"));
            // The tokenizer's settings (special tokens, chat template) travel too, so a model trained on
            // this data is a complete folder.
            var configFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerFile))!, "tokenizer_config.json");
            if (File.Exists(configFile)) AtomicFile.Copy(configFile, Path.Combine(output, "tokenizer_config.json"));
        }
        var meta = new TokenShardMeta
        {
            Dtype = dtype,
            VocabSize = tokenizer.VocabSize,
            EosTokenId = eos,
            TokenizerFingerprint = fingerprint,
            ValidationRule = rule,
            Splits = new() { [TrainSplit] = train.Complete(), [ValidationSplit] = validation.Complete() },
        };
        meta.Write(output);
        return meta;
    }

    /// <summary>"sha256:&lt;hex&gt;" of a file's bytes.</summary>
    public static string FingerprintOf(string file)
    {
        using var stream = File.OpenRead(file);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    static (IReadOnlyList<string> Train, IReadOnlyList<string> Validation) SplitInputs(DataPrepareOptions options)
    {
        var all = CorpusFiles.Expand(options.Inputs);
        var validation = all.Where(CorpusFiles.IsValidationFile).Concat(CorpusFiles.Expand(options.ValidationInputs)).Distinct().ToList();
        var train = all.Where(f => !validation.Contains(f)).ToList();
        if (train.Count == 0) throw new ArgumentException("no training files among the inputs (.jsonl, .jsonl.gz, .txt, .txt.gz)");
        return (train, validation);
    }

    /// <summary>Documents in input order, grouped in chunks, each marked train or validation.</summary>
    static IEnumerable<(string File, string[] Chunk, bool[] IsValidation)> Chunks(
        IReadOnlyList<string> trainFiles, IReadOnlyList<string> validationFiles, DataPrepareOptions options, bool splitOff)
    {
        long index = 0;
        var files = trainFiles.Select(f => (f, false)).Concat(validationFiles.Select(f => (f, true)));
        foreach (var (file, fileIsValidation) in files)
        {
            var texts = new List<string>(options.DocumentsPerChunk);
            var flags = new List<bool>(options.DocumentsPerChunk);
            foreach (var text in CorpusFiles.ReadDocuments([file]))
            {
                bool isValidation = fileIsValidation || (splitOff && index % options.ValidationEvery == options.ValidationEvery - 1);
                if (!fileIsValidation) index++;
                texts.Add(text);
                flags.Add(isValidation);
                if (texts.Count == options.DocumentsPerChunk)
                {
                    yield return (file, texts.ToArray(), flags.ToArray());
                    texts.Clear();
                    flags.Clear();
                }
            }
            if (texts.Count > 0) yield return (file, texts.ToArray(), flags.ToArray());
        }
    }
}
