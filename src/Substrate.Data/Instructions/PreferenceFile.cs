using System.Text.Json;
using Substrate.IO;

namespace Substrate.Data.Instructions;

/// <summary>One preference pair: a prompt, the preferred completion and the dispreferred one.</summary>
public sealed record PreferenceRecord(string Prompt, string Chosen, string Rejected, string Source);

/// <summary>Reads <c>{"prompt","chosen","rejected"}</c> JSONL (optionally .gz); bad lines are one error naming file:line.</summary>
public static class PreferenceFile
{
    public static List<PreferenceRecord> Read(string path) =>
        JsonLines.Read(path).Select(r => Parse(r.Record, r.Source)).ToList();

    static PreferenceRecord Parse(JsonElement root, string source)
    {
        string Field(string name) =>
            root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()!
                : throw new InvalidDataException($"{source}: expected a string \"{name}\" (records are {{\"prompt\",\"chosen\",\"rejected\"}})");
        var record = new PreferenceRecord(Field("prompt"), Field("chosen"), Field("rejected"), source);
        if (record.Chosen.Length == 0 || record.Rejected.Length == 0) throw new InvalidDataException($"{source}: chosen and rejected must not be empty");
        if (record.Chosen == record.Rejected) throw new InvalidDataException($"{source}: chosen and rejected are the same text");
        return record;
    }
}
