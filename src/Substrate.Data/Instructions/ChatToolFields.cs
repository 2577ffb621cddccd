using System.Text.Json;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Data.Instructions;

/// <summary>
/// The tool fields of a chat record, in OpenAI's shape: <c>"tools": [{"type": "function", "function": {"name",
/// "description", "parameters"}}]</c>, an assistant's <c>"tool_calls": [{"id", "type", "function": {"name", "arguments"}}]</c>
/// (arguments as a JSON object or its text) and a tool message's <c>"tool_call_id"</c>. Parameters and arguments keep
/// their JSON text as written, so a record renders exactly as the same chat does at inference.
/// </summary>
public static class ChatToolFields
{
    public static ChatMessage Message(JsonElement m, string role, string content, string source)
    {
        var id = m.TryGetProperty("tool_call_id", out var callId) && callId.ValueKind == JsonValueKind.String ? callId.GetString() : null;
        if (!m.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null)
            return new ChatMessage(role, content, ToolCallId: id);
        if (role != "assistant" || calls.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{source}: \"tool_calls\" must be an array on an assistant message");
        var list = calls.EnumerateArray().Select(c =>
        {
            var function = Property(c, "function", JsonValueKind.Object, source);
            var name = Name(function, source);
            var arguments = function.TryGetProperty("arguments", out var a) ? a : default;
            var text = arguments.ValueKind switch
            {
                JsonValueKind.Object => arguments.GetRawText(),
                JsonValueKind.String => ObjectText(arguments.GetString()!, source),
                _ => throw new InvalidDataException($"{source}: a tool call's \"arguments\" must be an object or its JSON text"),
            };
            var callId = c.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "call_" + name;
            return new ToolCall(callId, name, text);
        }).ToList();
        return new ChatMessage(role, content, list, id);
    }

    /// <summary>The record's tools, or null when it has none.</summary>
    public static IReadOnlyList<ToolDefinition>? Tools(JsonElement root, string source)
    {
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind == JsonValueKind.Null) return null;
        if (tools.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{source}: \"tools\" must be an array");
        return tools.EnumerateArray().Select(t =>
        {
            var function = Property(t, "function", JsonValueKind.Object, source);
            var name = Name(function, source);
            var description = function.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            var parameters = function.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object ? p.GetRawText() : null;
            return new ToolDefinition(name, description, parameters);
        }).ToList();
    }

    /// <summary>Arguments given as text must be a JSON object's text: the transcript inlines them as written, so
    /// anything else would train the model on a call it could never parse back.</summary>
    static string ObjectText(string text, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return text;
        }
        catch (JsonException) { }
        throw new InvalidDataException($"{source}: a tool call's \"arguments\" text must be a JSON object (got '{text}')");
    }

    /// <summary>A tool's or call's name: a call to "" could never be run, and a tool named "" never called.</summary>
    static string Name(JsonElement function, string source) =>
        Property(function, "name", JsonValueKind.String, source).GetString() is { } name && !string.IsNullOrWhiteSpace(name) ? name
        : throw new InvalidDataException($"{source}: a tool entry's \"name\" is empty");

    static JsonElement Property(JsonElement e, string name, JsonValueKind kind, string source) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == kind ? v
        : throw new InvalidDataException($"{source}: a tool entry needs \"{name}\" ({kind.ToString().ToLowerInvariant()})");
}
