using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Substrate.Inference.DotNetAI;

namespace Substrate.Agents.Evaluation;

/// <summary>
/// A tool task as a fine-tuning chat, <c>{"messages": [...], "tools": [...]}</c> in OpenAI's shape: the agent's system
/// instructions, the goal, one assistant tool call per step with the real tool's real result, and the answer. Calls,
/// results and tool definitions are written exactly as the agent loop hands them to the model at inference
/// (<see cref="SubstrateChatClient.ArgumentsText"/>, <see cref="ToolGuard.ResultText"/>, the function's own JSON schema),
/// so the chat renders through the chat format as the live conversation does.
/// </summary>
public static class ToolTaskChat
{
    public static async Task<string> RecordAsync(ToolTask task, IReadOnlyList<AIFunction> tools, string instructions,
        CancellationToken cancellationToken = default)
    {
        var offered = task.Task.Tools.Select(name => tools.FirstOrDefault(t => t.Name == name)
            ?? throw new ArgumentException($"the task needs the tool '{name}', which is not among the tools")).ToList();
        var results = new List<string>();
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, ToolTaskJson.Writer))
        {
            w.WriteStartObject();
            w.WriteStartArray("messages");
            Message(w, "system", instructions);
            Message(w, "user", task.Task.Goal);
            while (task.Plan(results) is var (tool, argument, value))
            {
                var id = $"call_{results.Count + 1}";
                var arguments = new Dictionary<string, object?> { [argument] = value };
                var function = offered.FirstOrDefault(f => f.Name == tool) ?? throw new InvalidOperationException($"the plan calls '{tool}', not offered");
                var result = ToolGuard.ResultText(await function.InvokeAsync(new AIFunctionArguments(arguments), cancellationToken));
                w.WriteStartObject();
                w.WriteString("role", "assistant");
                w.WriteString("content", "");
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool);
                w.WriteString("arguments", SubstrateChatClient.ArgumentsText(arguments));
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                Message(w, "tool", result, id);
                results.Add(result);
            }
            if (results.Count == 0 || !AgentAnswer.Matches(results[^1], task.Task.Answer))
                throw new InvalidOperationException($"the tools' last result is not the expected answer of '{task.Task.Goal}'");
            Message(w, "assistant", results[^1]);
            w.WriteEndArray();
            w.WriteStartArray("tools");
            foreach (var f in offered) Definition(w, f);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    static void Message(Utf8JsonWriter w, string role, string content, string? toolCallId = null)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", content);
        if (toolCallId is not null) w.WriteString("tool_call_id", toolCallId);
        w.WriteEndObject();
    }

    /// <summary>A tool as OpenAI's <c>{"type": "function", "function": {name, description, parameters}}</c>; the
    /// parameters are the function's schema text as it is (the model sees that text).</summary>
    static void Definition(Utf8JsonWriter w, AIFunction f)
    {
        w.WriteStartObject();
        w.WriteString("type", "function");
        w.WriteStartObject("function");
        w.WriteString("name", f.Name);
        w.WriteString("description", f.Description);
        w.WritePropertyName("parameters");
        w.WriteRawValue(f.JsonSchema.GetRawText());
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
