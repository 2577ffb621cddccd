using System.Text.Json;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Inference.Serving;

/// <summary>The schema of a forced tool call (reading calls back is <see cref="ChatFormat.ParseToolCalls"/>).</summary>
public static class ToolCallParser
{
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
