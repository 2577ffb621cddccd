using System.Text.Json;
using Substrate.Inference;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Server;

/// <summary>Reads a <c>/v1/chat/completions</c> body into a <see cref="CompletionRequest"/>.</summary>
public static class ChatRequestParser
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static (CompletionRequest Request, bool Stream, bool IncludeUsage) Parse(RequestReader r, int context, GenerationDefaults modelDefaults)
    {
        var model = r.RequiredString("model");
        var stream = r.Bool("stream") ?? false;
        var includeUsage = r.Get("stream_options") is { ValueKind: JsonValueKind.Object } so && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        var logprobs = r.Bool("logprobs") ?? false;
        var top = (int)(r.Integer("top_logprobs", 0, OpenAiLimits.MaxTopLogprobs) ?? 0);
        if (top > 0 && !logprobs) throw ApiException.Invalid("top_logprobs needs logprobs: true", "top_logprobs");
        var request = new CompletionRequest
        {
            Model = model,
            Messages = Messages(r),
            Options = SamplingParameters.Read(r, context, modelDefaults),
            TopLogprobs = logprobs ? top : null,
            ResponseFormat = Format(r),
            Tools = Tools(r),
            ToolChoice = Choice(r),
        };
        return (request, stream, includeUsage);
    }

    private static List<ChatMessage> Messages(RequestReader r)
    {
        if (r.Get("messages") is not { ValueKind: JsonValueKind.Array } array || array.GetArrayLength() == 0)
            throw ApiException.Invalid("'messages' must be a non-empty array", "messages");
        var turns = new List<ChatMessage>();
        var i = 0;
        foreach (var m in array.EnumerateArray())
        {
            var param = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"'{param}' must be an object", param);
            var message = new RequestReader(m);
            var role = message.String("role") ?? throw ApiException.Invalid($"'{param}.role' is required", $"{param}.role");
            if (!Roles.Contains(role)) throw ApiException.Invalid($"'{param}.role' must be one of {string.Join(", ", Roles)} (got '{role}')", $"{param}.role");
            var content = message.Get("content") switch
            {
                null => null,
                { ValueKind: JsonValueKind.String } s => s.GetString(),
                { ValueKind: JsonValueKind.Array } parts => string.Concat(parts.EnumerateArray().Select(p =>
                    p.TryGetProperty("type", out var t) && t.GetString() == "text" && p.TryGetProperty("text", out var x) ? x.GetString()
                    : throw ApiException.Invalid($"'{param}.content': only text parts are supported", $"{param}.content"))),
                _ => throw ApiException.Invalid($"'{param}.content' must be a string or an array of parts", $"{param}.content"),
            };
            List<ToolCall>? calls = null;
            if (message.Get("tool_calls") is { ValueKind: JsonValueKind.Array } tc)
                calls = tc.EnumerateArray().Select(c => new ToolCall(
                    c.TryGetProperty("id", out var id) ? id.GetString() ?? "" : "",
                    c.GetProperty("function").GetProperty("name").GetString()!,
                    c.GetProperty("function").TryGetProperty("arguments", out var a) ? a.GetString() ?? "{}" : "{}")).ToList();
            if (content is null && calls is null) throw ApiException.Invalid($"'{param}.content' is required", $"{param}.content");
            turns.Add(new ChatMessage(role == "developer" ? "system" : role, content ?? "", calls, message.String("tool_call_id"), message.String("name")));
        }
        return turns;
    }

    private static ResponseFormat Format(RequestReader r)
    {
        if (r.Get("response_format") is not { } f) return ResponseFormat.Text;
        var format = new RequestReader(f);
        switch (format.String("type"))
        {
            case "text": return ResponseFormat.Text;
            case "json_object": return ResponseFormat.JsonObject;
            case "json_schema":
                if (format.Get("json_schema") is not { ValueKind: JsonValueKind.Object } js || !js.TryGetProperty("schema", out var schema))
                    throw ApiException.Invalid("response_format json_schema needs json_schema.schema", "response_format");
                try { JsonSchemaNode.Parse(schema.GetRawText()); }
                catch (ArgumentException e) { throw ApiException.Invalid(e.Message, "response_format"); }
                return ResponseFormat.JsonSchema(schema.GetRawText());
            default: throw ApiException.Invalid("response_format.type must be text, json_object or json_schema", "response_format");
        }
    }

    private static List<ToolDefinition> Tools(RequestReader r)
    {
        if (r.Get("tools") is not { } tools) return [];
        if (tools.ValueKind != JsonValueKind.Array) throw ApiException.Invalid("'tools' must be an array", "tools");
        return tools.EnumerateArray().Select((t, i) =>
        {
            if (!t.TryGetProperty("function", out var f) || !f.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                throw ApiException.Invalid($"'tools[{i}].function.name' is required", $"tools[{i}]");
            var parameters = f.TryGetProperty("parameters", out var p) ? p.GetRawText() : null;
            if (parameters is not null)
                try { JsonSchemaNode.Parse(parameters); }
                catch (ArgumentException e) { throw ApiException.Invalid(e.Message, $"tools[{i}].function.parameters"); }
            return new ToolDefinition(name.GetString()!, f.TryGetProperty("description", out var d) ? d.GetString() : null, parameters);
        }).ToList();
    }

    private static ToolChoice Choice(RequestReader r) => r.Get("tool_choice") switch
    {
        null => ToolChoice.Auto,
        { ValueKind: JsonValueKind.String } s => s.GetString() switch
        {
            "auto" => ToolChoice.Auto, "none" => ToolChoice.None, "required" => ToolChoice.Required,
            var other => throw ApiException.Invalid($"tool_choice must be auto, none, required or a function (got '{other}')", "tool_choice"),
        },
        { ValueKind: JsonValueKind.Object } o when o.TryGetProperty("function", out var f) && f.TryGetProperty("name", out var n)
            && n.ValueKind == JsonValueKind.String && n.GetString() is { Length: > 0 } name => ToolChoice.Function(name),
        _ => throw ApiException.Invalid("tool_choice must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}", "tool_choice"),
    };
}
