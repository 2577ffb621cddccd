namespace Substrate.IO;

/// <summary>
/// Corpus files, the one rule for every path that reads training text (tokenizer training, data preparation,
/// perplexity): <c>.txt</c> (the whole file is one document), <c>.jsonl</c> (each line's "text" field is one document),
/// and <c>.gz</c> of either. A folder stands for its corpus files, recursively, in ordinal path order, so a corpus
/// always streams in the same order; a file named on its own must exist and be a corpus file.
/// </summary>
public static class CorpusFiles
{
    private static readonly string[] Extensions = [".jsonl", ".jsonl.gz", ".txt", ".txt.gz"];

    /// <summary>The corpus files of the given files and folders, in a stable order. Every path is checked here, before any
    /// document streams, so a typo fails at once.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(IsCorpusFile).Order(StringComparer.Ordinal));
            else if (!File.Exists(path))
                throw new FileNotFoundException($"input not found: {path}", path);
            else if (!IsCorpusFile(path))
                throw new InvalidDataException($"{path}: unsupported file type (expected .txt, .jsonl, or either .gz)");
            else
                files.Add(path);
        }
        return files;
    }

    public static bool IsCorpusFile(string path) => Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>True for files whose name says they hold validation text (validation*, valid*, val.*).</summary>
    public static bool IsValidationFile(string path)
    {
        var name = Path.GetFileName(path).ToLowerInvariant();
        return name.StartsWith("validation") || name.StartsWith("valid") || name.StartsWith("val.");
    }

    /// <summary>The documents of the given files and folders, streamed in order.</summary>
    public static IEnumerable<string> ReadDocuments(IEnumerable<string> paths)
    {
        var files = Expand(paths); // checked now, not when the stream is first read
        return files.SelectMany(ReadFile);
    }

    private static IEnumerable<string> ReadFile(string path)
    {
        var name = JsonLines.IsGzip(path) ? path[..^3] : path;
        if (name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            using var reader = JsonLines.OpenText(path);
            yield return JsonLines.ReadToEnd(reader, path);
            yield break;
        }
        foreach (var (record, source) in JsonLines.Read(path, allowEmpty: true))
            yield return record.ValueKind == System.Text.Json.JsonValueKind.Object && record.TryGetProperty("text", out var text)
                && text.ValueKind == System.Text.Json.JsonValueKind.String
                ? text.GetString()!
                : throw new InvalidDataException($"{source}: JSON line has no string \"text\" field");
    }
}
