using System.Text.Json;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Inference.Serving;

/// <summary>Reads a tool call out of model output: a JSON object <c>{"name": …, "arguments": {…}}</c> naming a known tool.</summary>
public static class ToolCallParser
{
    public static ToolCall? Parse(string output, IReadOnlyList<ToolDefinition> tools)
    {
        var text = output.Trim();
        if (!text.StartsWith('{')) return null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String) return null;
            if (tools.All(t => t.Name != name.GetString())) return null;
            var arguments = root.TryGetProperty("arguments", out var a) ? a.GetRawText()
                : root.TryGetProperty("parameters", out var p) ? p.GetRawText() : "{}";
            return new ToolCall("call_" + Guid.NewGuid().ToString("N")[..24], name.GetString()!, arguments);
        }
        catch (JsonException) { return null; }
    }

    /// <summary>The JSON Schema a forced tool call must satisfy: {"name": one of the tools, "arguments": that tool's
    /// parameters} — exactly for one tool; for several, any object as arguments (the schema subset has no anyOf).</summary>
    public static string CallSchema(IReadOnlyList<ToolDefinition> tools)
    {
        var names = string.Join(",", tools.Select(t => JsonSerializer.Serialize(t.Name)));
        var arguments = tools.Count == 1 && tools[0].ParametersSchema is { } p ? p : "{\"type\":\"object\"}";
        return $"{{\"type\":\"object\",\"properties\":{{\"name\":{{\"enum\":[{names}]}},\"arguments\":{arguments}}}," +
            "\"required\":[\"name\",\"arguments\"],\"additionalProperties\":false}";
    }
}
