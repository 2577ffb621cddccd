using System.IO.Compression;
using System.Text.Json;

namespace Substrate.IO;

/// <summary>
/// JSON Lines (optionally .gz), one object per line, each tagged with its <c>file:line</c> so a bad record is reported
/// where it is. Blank lines are skipped.
/// </summary>
public static class JsonLines
{
    /// <summary>The records of <paramref name="path"/>; a file with none is an error unless <paramref name="allowEmpty"/>.</summary>
    public static IEnumerable<(JsonElement Record, string Source)> Read(string path, bool allowEmpty = false)
    {
        using var text = OpenText(path);
        int lineNumber = 0, records = 0;
        while (ReadLine(text, path) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var source = $"{path}:{lineNumber}";
            records++;
            yield return (Parse(line, source), source);
        }
        if (records == 0 && !allowEmpty) throw new InvalidDataException($"{path}: no records");
    }

    /// <summary>One line as a JSON value; malformed JSON is an <see cref="InvalidDataException"/> naming <paramref name="source"/>.</summary>
    public static JsonElement Parse(string line, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: malformed JSON ({e.Message})", e);
        }
    }

    /// <summary>A text reader over a file, decompressing <c>.gz</c>; a missing or unreadable file is one error naming it.</summary>
    public static StreamReader OpenText(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: {path}", path);
        Stream stream;
        try { stream = File.OpenRead(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new IOException($"{path}: cannot read: {e.Message}", e); }
        return new StreamReader(IsGzip(path) ? new GZipStream(stream, CompressionMode.Decompress) : stream);
    }

    /// <summary>The rest of a reader's text; a corrupt .gz names the file.</summary>
    public static string ReadToEnd(StreamReader reader, string path)
    {
        try { return reader.ReadToEnd(); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    private static string? ReadLine(StreamReader reader, string path)
    {
        try { return reader.ReadLine(); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    internal static bool IsGzip(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
}
