using System.Text.Json;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>
/// Messages and tools as the template values transformers passes to a template that takes tools: OpenAI's shape,
/// with a tool call's arguments and a tool's parameters as parsed JSON objects (so <c>| tojson</c> writes them
/// the template's way), a tool result's <c>tool_call_id</c> and <c>name</c>.
/// </summary>
internal static class ChatToolValues
{
    public static List<object?> Messages(IReadOnlyList<ChatMessage> messages) => messages.Select(m =>
    {
        var value = new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content };
        if (m.ToolCalls is { Count: > 0 } calls)
        {
            value["tool_calls"] = calls.Select(c => (object?)new Dictionary<string, object?>
            {
                ["id"] = c.Id, ["type"] = "function",
                ["function"] = new Dictionary<string, object?> { ["name"] = c.Name, ["arguments"] = ParseOrText(c.Arguments) },
            }).ToList();
        }
        if (m.ToolCallId is not null) value["tool_call_id"] = m.ToolCallId;
        if (m.Name is not null) value["name"] = m.Name;
        return (object?)value;
    }).ToList();

    public static List<object?> Tools(IReadOnlyList<ToolDefinition> tools) => tools.Select(t => (object?)new Dictionary<string, object?>
    {
        ["type"] = "function",
        ["function"] = new Dictionary<string, object?>
        {
            ["name"] = t.Name, ["description"] = t.Description ?? "",
            ["parameters"] = t.ParametersSchema is { } schema ? ParseOrText(schema) : new Dictionary<string, object?>(),
        },
    }).ToList();

    private static object? ParseOrText(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return JinjaValues.FromJson(doc.RootElement);
        }
        catch (JsonException)
        {
            return json;
        }
    }
}
