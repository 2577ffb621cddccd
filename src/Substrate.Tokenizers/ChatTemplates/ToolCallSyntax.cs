using System.Text.Json;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>
/// Reads the tool calls out of a model's reply, in the syntaxes the families' templates teach: Qwen / Hermes
/// <c>&lt;tool_call&gt;{json}&lt;/tool_call&gt;</c> (one or several), Mistral <c>[TOOL_CALLS][{…}, …]</c>, Llama 3.1
/// JSON (<c>{"name": …, "parameters": {…}}</c>, after an optional <c>&lt;|python_tag|&gt;</c>, several separated by
/// ';'), and Substrate's own <c>{"name": …, "arguments": {…}}</c>. Each call must name one of the tools; anything
/// malformed → null, and the reply is content.
/// </summary>
public static class ToolCallSyntax
{
    private const string HermesOpen = "<tool_call>", HermesClose = "</tool_call>", MistralPrefix = "[TOOL_CALLS]", PythonTag = "<|python_tag|>";

    public static IReadOnlyList<ToolCall>? Parse(string output, IReadOnlyList<ToolDefinition> tools)
    {
        var text = output.Trim();
        List<JsonElement>? objects = null;
        var documents = new List<JsonDocument>();
        try
        {
            if (text.Contains(HermesOpen, StringComparison.Ordinal)) objects = Hermes(text, documents);
            else if (text.StartsWith(MistralPrefix, StringComparison.Ordinal)) objects = Array(text[MistralPrefix.Length..], documents);
            else
            {
                if (text.StartsWith(PythonTag, StringComparison.Ordinal)) text = text[PythonTag.Length..].Trim();
                if (text.StartsWith('[')) objects = Array(text, documents);
                else if (text.StartsWith('{')) objects = Objects(text, documents);
            }
            if (objects is not { Count: > 0 }) return null;
            var calls = new List<ToolCall>(objects.Count);
            foreach (var o in objects)
            {
                if (Call(o, tools) is not { } call) return null;
                calls.Add(call);
            }
            return calls;
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            foreach (var d in documents) d.Dispose();
        }
    }

    // Every <tool_call>…</tool_call> block (the last may be cut off by the end of the turn); text around them is not a call.
    private static List<JsonElement> Hermes(string text, List<JsonDocument> documents)
    {
        var objects = new List<JsonElement>();
        for (int at = text.IndexOf(HermesOpen, StringComparison.Ordinal); at >= 0; at = text.IndexOf(HermesOpen, at, StringComparison.Ordinal))
        {
            int start = at + HermesOpen.Length;
            int end = text.IndexOf(HermesClose, start, StringComparison.Ordinal);
            objects.Add(Json(end < 0 ? text[start..] : text[start..end], documents));
            at = end < 0 ? text.Length : end + HermesClose.Length;
        }
        return objects;
    }

    // One object, or several separated by ';' (Llama 3.1): the whole text is tried first, so a ';' inside a string
    // of a single call does not split it.
    private static List<JsonElement> Objects(string text, List<JsonDocument> documents)
    {
        try
        {
            return [Json(text, documents)];
        }
        catch (JsonException)
        {
            return text.Split(';').Select(part => Json(part, documents)).ToList();
        }
    }

    private static List<JsonElement> Array(string json, List<JsonDocument> documents)
    {
        var root = Json(json, documents);
        if (root.ValueKind != JsonValueKind.Array) throw new JsonException("expected an array of calls");
        return root.EnumerateArray().ToList();
    }

    private static JsonElement Json(string json, List<JsonDocument> documents)
    {
        var doc = JsonDocument.Parse(json.Trim());
        documents.Add(doc);
        return doc.RootElement;
    }

    private static ToolCall? Call(JsonElement o, IReadOnlyList<ToolDefinition> tools)
    {
        if (o.ValueKind != JsonValueKind.Object || !o.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String) return null;
        if (tools.All(t => t.Name != name.GetString())) return null;
        var arguments = o.TryGetProperty("arguments", out var a) || o.TryGetProperty("parameters", out a) ? a : default;
        string text = arguments.ValueKind switch
        {
            JsonValueKind.Undefined => "{}",
            JsonValueKind.Object => arguments.GetRawText(),
            JsonValueKind.String => arguments.GetString()!, // some models write the arguments as a JSON string
            _ => "",
        };
        if (text.Length == 0 || !IsObject(text)) return null;
        return new ToolCall("call_" + Guid.NewGuid().ToString("N")[..24], name.GetString()!, text);
    }

    private static bool IsObject(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
