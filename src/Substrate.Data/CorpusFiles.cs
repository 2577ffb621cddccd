using System.IO.Compression;
using System.Text.Json;

namespace Substrate.Data;

/// <summary>
/// Streams documents from corpus files: <c>.jsonl</c> / <c>.jsonl.gz</c> (one JSON object per line,
/// its <c>"text"</c> field is the document) and <c>.txt</c> / <c>.txt.gz</c> (the whole file is one
/// document). A directory stands for its corpus files, recursively, in ordinal path order.
/// </summary>
public static class CorpusFiles
{
    static readonly string[] Extensions = [".jsonl", ".jsonl.gz", ".txt", ".txt.gz"];

    /// <summary>The corpus files of the given files and directories, in a stable order.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(IsCorpusFile).Order(StringComparer.Ordinal));
            else if (File.Exists(path))
                files.Add(path);
            else
                throw new FileNotFoundException($"input '{path}' does not exist", path);
        }
        return files;
    }

    public static bool IsCorpusFile(string path) =>
        Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>True for files whose name says they hold validation text (validation*, valid*, val.*).</summary>
    public static bool IsValidationFile(string path)
    {
        var name = Path.GetFileName(path).ToLowerInvariant();
        return name.StartsWith("validation") || name.StartsWith("valid") || name.StartsWith("val.");
    }

    /// <summary>The documents of one file, streamed.</summary>
    public static IEnumerable<string> ReadDocuments(string file)
    {
        bool gz = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        var bare = gz ? file[..^3] : file;
        if (bare.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            using var reader = Open(file, gz);
            yield return reader.ReadToEnd();
            yield break;
        }
        using (var reader = Open(file, gz))
        {
            string? line;
            long lineNumber = 0;
            while ((line = reader.ReadLine()) != null)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                yield return TextOf(line, file, lineNumber);
            }
        }
    }

    static StreamReader Open(string file, bool gz)
    {
        Stream stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (gz) stream = new GZipStream(stream, CompressionMode.Decompress);
        return new StreamReader(stream);
    }

    static string TextOf(string line, string file, long lineNumber)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind == JsonValueKind.Object &&
                json.RootElement.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                return text.GetString()!;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{file}:{lineNumber}: not JSON ({e.Message})");
        }
        throw new InvalidDataException($"{file}:{lineNumber}: no string \"text\" field");
    }
}
