using System.IO.Compression;
using System.Text.Json;

namespace Substrate.Data.Instructions;

/// <summary>
/// Reads JSONL (optionally .gz) one object per line, each tagged with its <c>file:line</c> so a bad
/// record is reported where it is. Blank lines are skipped; a file with no records is an error.
/// </summary>
public static class JsonLinesFile
{
    public static IEnumerable<(JsonElement Record, string Source)> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"data file not found: {path}", path);
        using var stream = File.OpenRead(path);
        using var text = new StreamReader(path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionMode.Decompress) : stream);
        int lineNumber = 0, records = 0;
        for (string? line; (line = text.ReadLine()) is not null;)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string source = $"{path}:{lineNumber}";
            records++;
            yield return (Parse(line, source), source);
        }
        if (records == 0) throw new InvalidDataException($"{path}: no records");
    }

    public static JsonElement Parse(string line, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: malformed JSON ({ex.Message})");
        }
    }
}
