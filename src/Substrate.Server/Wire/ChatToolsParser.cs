using System.Text.Json;
using Substrate.Inference;
using Substrate.Inference.Constrained;
using Substrate.Inference.Serving;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Server.Wire;

/// <summary>
/// The chat request's tools, tool_choice and response_format, checked by type and range; a JSON schema (tool parameters,
/// json_schema) is checked by <see cref="JsonSchemaNode.Parse(string)"/>, which refuses what constrained decoding cannot enforce.
/// </summary>
public static class ChatToolsParser
{
    public static List<ToolDefinition> Tools(RequestReader r)
    {
        var tools = new List<ToolDefinition>();
        foreach (var t in r.Objects("tools"))
        {
            RequireFunctionType(t);
            var f = t.Object("function") ?? throw ApiException.Invalid($"'{t.Param("function")}' is required", t.Param("function"));
            var name = Name(f);
            if (tools.Any(x => x.Name == name))
                throw ApiException.Invalid($"'{f.Param("name")}': the tool name '{name}' is used twice", f.Param("name"), "invalid_value");
            f.Bool("strict");
            var parameters = f.Object("parameters") is { } p ? Schema(p) : null;
            tools.Add(new ToolDefinition(name, f.String("description"), parameters));
        }
        return tools;
    }

    /// <summary>The <c>name</c> of a function object: a non-empty string.</summary>
    public static string Name(RequestReader function) => function.RequiredString("name") is { Length: > 0 } name ? name
        : throw ApiException.Invalid($"'{function.Param("name")}' must not be empty", function.Param("name"), "invalid_value");

    /// <summary>A tool or tool call's <c>type</c>: only "function" (absent means "function").</summary>
    public static void RequireFunctionType(RequestReader r)
    {
        if (r.String("type") is { } type && type != "function")
            throw ApiException.Invalid($"'{r.Param("type")}' must be \"function\" (got '{type}')", r.Param("type"), "invalid_value");
    }

    public static ResponseFormat Format(RequestReader r)
    {
        if (r.Object("response_format") is not { } format) return ResponseFormat.Text;
        switch (format.RequiredString("type"))
        {
            case "text": return ResponseFormat.Text;
            case "json_object": return ResponseFormat.JsonObject;
            case "json_schema":
                var js = format.Object("json_schema")
                    ?? throw ApiException.Invalid($"'{format.Param("json_schema")}' is required", format.Param("json_schema"));
                js.String("name");
                js.String("description");
                js.Bool("strict");
                var schema = js.Object("schema") ?? throw ApiException.Invalid($"'{js.Param("schema")}' is required", js.Param("schema"));
                return ResponseFormat.JsonSchema(Schema(schema));
            default:
                throw ApiException.Invalid("response_format.type must be text, json_object or json_schema", format.Param("type"), "invalid_value");
        }
    }

    /// <summary>The raw text of a JSON schema constrained decoding can enforce, else a 400 naming it.</summary>
    private static string Schema(RequestReader schema)
    {
        var text = schema.Root.GetRawText();
        var param = schema.Param("").TrimEnd('.');
        try { JsonSchemaNode.Parse(text); }
        catch (ArgumentException e) { throw ApiException.Invalid(e.Message, param, "invalid_value"); }
        return text;
    }

    public static ToolChoice Choice(RequestReader r, IReadOnlyList<ToolDefinition> tools)
    {
        var choice = r.Get("tool_choice") switch
        {
            null => ToolChoice.Auto,
            { ValueKind: JsonValueKind.String } s => s.GetString() switch
            {
                "auto" => ToolChoice.Auto, "none" => ToolChoice.None, "required" => ToolChoice.Required,
                var other => throw ApiException.Invalid(
                    $"tool_choice must be auto, none, required or a function (got '{other}')", "tool_choice", "invalid_value"),
            },
            { ValueKind: JsonValueKind.Object } => Named(r.Object("tool_choice")!.Value, tools),
            _ => throw ApiException.Invalid("tool_choice must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}",
                "tool_choice", "invalid_type"),
        };
        if (choice == ToolChoice.Required && tools.Count == 0)
            throw ApiException.Invalid("tool_choice 'required' needs tools", "tool_choice", "invalid_value");
        return choice;
    }

    private static ToolChoice Named(RequestReader o, IReadOnlyList<ToolDefinition> tools)
    {
        RequireFunctionType(o);
        var function = o.Object("function") ?? throw ApiException.Invalid($"'{o.Param("function")}' is required", o.Param("function"));
        var name = Name(function);
        return tools.Any(t => t.Name == name) ? ToolChoice.Function(name)
            : throw ApiException.Invalid($"tool_choice names '{name}', which is not among the tools", function.Param("name"), "invalid_value");
    }
}
