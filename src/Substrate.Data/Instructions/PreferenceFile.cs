using System.IO.Compression;
using System.Text.Json;

namespace Substrate.Data.Instructions;

/// <summary>One preference pair: a prompt, the preferred completion and the dispreferred one.</summary>
public sealed record PreferenceRecord(string Prompt, string Chosen, string Rejected, string Source);

/// <summary>Reads <c>{"prompt","chosen","rejected"}</c> JSONL (optionally .gz); bad lines are one error naming file:line.</summary>
public static class PreferenceFile
{
    public static List<PreferenceRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"data file not found: {path}", path);
        var records = new List<PreferenceRecord>();
        using var stream = File.OpenRead(path);
        using var text = new StreamReader(path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionMode.Decompress) : stream);
        int lineNumber = 0;
        for (string? line; (line = text.ReadLine()) is not null;)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string source = $"{path}:{lineNumber}";
            JsonElement root;
            try { using var doc = JsonDocument.Parse(line); root = doc.RootElement.Clone(); }
            catch (JsonException ex) { throw new InvalidDataException($"{source}: malformed JSON ({ex.Message})"); }
            string Field(string name) =>
                root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                    ? v.GetString()! : throw new InvalidDataException($"{source}: expected a string \"{name}\" (records are {{\"prompt\",\"chosen\",\"rejected\"}})");
            var record = new PreferenceRecord(Field("prompt"), Field("chosen"), Field("rejected"), source);
            if (record.Chosen.Length == 0 || record.Rejected.Length == 0) throw new InvalidDataException($"{source}: chosen and rejected must not be empty");
            if (record.Chosen == record.Rejected) throw new InvalidDataException($"{source}: chosen and rejected are the same text");
            records.Add(record);
        }
        if (records.Count == 0) throw new InvalidDataException($"{path}: no records");
        return records;
    }
}
