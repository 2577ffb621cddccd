using System.Text.Json;
using Substrate.IO;

namespace Substrate.Agents.Evaluation;

/// <summary>One agent task: the goal, the names of the tools it may use, the expected answer (compared after
/// <see cref="AgentAnswer.Normalize"/>) and its kind (arithmetic, define, verses…: what the summary groups by).</summary>
public sealed record AgentTask(string Goal, IReadOnlyList<string> Tools, string Answer, string Kind = "");

/// <summary>Task files: JSON Lines of <c>{"goal", "tools": [names], "answer", "kind"}</c>.</summary>
public static class AgentTaskFile
{
    public static List<AgentTask> Read(string path) => JsonLines.Read(path).Select(r => Parse(r.Record, r.Source)).ToList();

    static AgentTask Parse(JsonElement e, string source)
    {
        string Text(string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()! : throw new InvalidDataException($"{source}: a task needs \"{name}\" (a string)");
        var goal = Text("goal");
        var answer = Text("answer");
        var tools = e.TryGetProperty("tools", out var t) && t.ValueKind == JsonValueKind.Array
            ? t.EnumerateArray().Select(n => n.ValueKind == JsonValueKind.String ? n.GetString()!
                : throw new InvalidDataException($"{source}: \"tools\" must be an array of tool names")).ToList()
            : throw new InvalidDataException($"{source}: a task needs \"tools\" (an array of tool names, may be empty)");
        var kind = e.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString()! : "";
        return new AgentTask(goal, tools, answer, kind);
    }

    /// <summary>One task as its JSON line.</summary>
    public static string Line(AgentTask task) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["goal"] = task.Goal, ["tools"] = task.Tools, ["answer"] = task.Answer, ["kind"] = task.Kind,
    }, ToolTaskJson.Options);

    public static void Write(string path, IEnumerable<AgentTask> tasks) => AtomicFile.WriteAllText(path, string.Concat(tasks.Select(t => Line(t) + "\n")));
}
