using System.Diagnostics;
using Substrate.IO;

namespace Substrate.Tokenizers.Training;

/// <summary>What training a tokenizer on corpus files produced: its folder, size, and the text it read.</summary>
public sealed record BpeCorpusTrainingResult(string Directory, int VocabSize, int Merges, long Characters, TimeSpan Elapsed)
{
    /// <summary>One line: vocabulary, merges, characters read, time and the tokenizer.json written.</summary>
    public string Summary => $"{VocabSize:N0} tokens ({Merges:N0} merges) from {Characters / 1e6:F1}M characters in {Elapsed.TotalSeconds:F1}s "
        + $"→ {Path.Combine(Directory, "tokenizer.json")}";
}

/// <summary>Trains a byte-level BPE tokenizer on corpus files (<see cref="CorpusFiles"/>: .txt/.jsonl, .gz, folders) and
/// saves it as a Hugging Face folder — the tokenizer stage of <c>substrate tokenizer train</c> and of quickstart.</summary>
public static class BpeCorpusTraining
{
    public static BpeCorpusTrainingResult Run(IReadOnlyList<string> inputs, BpeTrainerOptions options, string outputDirectory)
    {
        var clock = Stopwatch.StartNew();
        long characters = 0;
        var documents = CorpusFiles.ReadDocuments(inputs).Select(text => { characters += text.Length; return text; });
        var tokenizer = BpeTrainer.Train(documents, options);
        tokenizer.Save(outputDirectory);
        return new BpeCorpusTrainingResult(outputDirectory, tokenizer.VocabSize, tokenizer.Merges?.Count ?? 0, characters, clock.Elapsed);
    }

    /// <summary>The live status of a training (counting words, then merging) and its share done where known.</summary>
    public static (string Status, double? Fraction) Status(BpeTrainingProgress p) => p.Stage == "merge"
        ? ($"merge {p.Done:N0}/{p.Total:N0}", p.Total > 0 ? (double)p.Done / p.Total : null)
        : ($"counting words, {p.Done / 1e6:F1}M chars", null);
}
