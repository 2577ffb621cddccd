using System.IO.Compression;
using System.Text.Json;

namespace Substrate.Tokenizers;

/// <summary>
/// Streams training documents from files and folders: <c>.txt</c> (the whole file is one document),
/// <c>.jsonl</c> (each line's "text" field is one document), and <c>.gz</c> of either. Folders are
/// read recursively in ordinal path order, so a corpus always streams in the same order.
/// A missing path → FileNotFoundException; a bad JSONL line → InvalidDataException with file and line.
/// </summary>
public static class TextSources
{
    public static IEnumerable<string> ReadDocuments(IEnumerable<string> paths)
    {
        // Every path is checked here, before any document streams, so a typo fails at once.
        var files = paths.SelectMany(ExpandPath).ToList();
        return ReadFiles(files);
    }

    private static IEnumerable<string> ReadFiles(List<string> files)
    {
        foreach (var file in files)
        {
            foreach (var document in ReadFile(file)) yield return document;
        }
    }

    private static IEnumerable<string> ExpandPath(string path)
    {
        if (Directory.Exists(path))
        {
            return Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Where(IsSupported).Order(StringComparer.Ordinal).ToList();
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"training text not found: {path}", path);
        if (!IsSupported(path)) throw new InvalidDataException($"{path}: unsupported file type (expected .txt, .jsonl, or either .gz)");
        return [path];
    }

    private static bool IsSupported(string path)
    {
        string name = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        return name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);
    }

    private static IEnumerable<string> ReadFile(string path)
    {
        bool gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        string name = gzip ? path[..^3] : path;
        Stream stream;
        try
        {
            stream = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path}: cannot read: {e.Message}", e);
        }
        using var reader = new StreamReader(gzip ? new GZipStream(stream, CompressionMode.Decompress) : stream);
        if (name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            yield return ReadAll(reader, path);
            yield break;
        }
        int lineNumber = 0;
        while (ReadLine(reader, path) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return TextField(line, path, lineNumber);
        }
    }

    private static string TextField(string line, string path, int lineNumber)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                return text.GetString()!;
            throw new InvalidDataException($"{path}:{lineNumber}: JSON line has no string \"text\" field");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{lineNumber}: malformed JSON: {e.Message}", e);
        }
    }

    private static string ReadAll(StreamReader reader, string path)
    {
        try { return reader.ReadToEnd(); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    private static string? ReadLine(StreamReader reader, string path)
    {
        try { return reader.ReadLine(); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }
}
