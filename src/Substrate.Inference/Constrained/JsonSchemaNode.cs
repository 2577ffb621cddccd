using System.Text.Json;

namespace Substrate.Inference.Constrained;

public enum JsonKind { Any, Object, Array, String, Number, Integer, Boolean, Null, Enum }

/// <summary>
/// The JSON Schema subset constrained decoding enforces: object (properties, required; properties are written in
/// schema order and no others — what additionalProperties: false asks, and valid for any other setting too), array
/// (items), string, number, integer, boolean, null, enum/const, nested. A type list takes its first non-null type;
/// a schema without type is any JSON value. Unsupported keywords (pattern, minimum, anyOf, $ref…) are refused, not ignored.
/// </summary>
public sealed record JsonSchemaNode(JsonKind Kind)
{
    public IReadOnlyList<(string Name, JsonSchemaNode Schema)> Properties { get; init; } = [];
    public IReadOnlySet<string> Required { get; init; } = new HashSet<string>();
    public JsonSchemaNode? Items { get; init; }
    /// <summary>Enum values, each as compact JSON text.</summary>
    public IReadOnlyList<string> Values { get; init; } = [];

    public static readonly JsonSchemaNode Any = new(JsonKind.Any);
    /// <summary>Any JSON object (response_format json_object).</summary>
    public static readonly JsonSchemaNode AnyObject = new(JsonKind.Object) { Free = true };

    /// <summary>An object with any keys (no properties listed).</summary>
    public bool Free { get; init; }

    private static readonly HashSet<string> Known = ["type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "description", "title", "$schema", "default", "examples", "strict", "name", "schema"];

    public static JsonSchemaNode Parse(string schema)
    {
        try
        {
            using var doc = JsonDocument.Parse(schema);
            return Parse(doc.RootElement, "schema");
        }
        catch (JsonException e) { throw new ArgumentException($"the JSON schema is not valid JSON: {e.Message}"); }
    }

    private static JsonSchemaNode Parse(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.True) return Any;
        if (e.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{path}: a schema must be an object");
        foreach (var p in e.EnumerateObject())
            if (!Known.Contains(p.Name)) throw new ArgumentException($"{path}: the schema keyword '{p.Name}' is not supported by constrained decoding");
        if (e.TryGetProperty("enum", out var en))
            return en.ValueKind == JsonValueKind.Array && en.GetArrayLength() > 0
                ? new JsonSchemaNode(JsonKind.Enum) { Values = en.EnumerateArray().Select(v => JsonSerializer.Serialize(v)).ToList() }
                : throw new ArgumentException($"{path}.enum: must be a non-empty array");
        if (e.TryGetProperty("const", out var c)) return new JsonSchemaNode(JsonKind.Enum) { Values = [JsonSerializer.Serialize(c)] };
        if (e.TryGetProperty("additionalProperties", out var ap) && ap.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            Parse(ap, $"{path}.additionalProperties");
        switch (TypeName(e, path))
        {
            case null when e.TryGetProperty("properties", out _):
            case "object":
                var properties = new List<(string, JsonSchemaNode)>();
                if (e.TryGetProperty("properties", out var ps))
                {
                    if (ps.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{path}.properties: must be an object");
                    foreach (var p in ps.EnumerateObject()) properties.Add((p.Name, Parse(p.Value, $"{path}.{p.Name}")));
                }
                var required = RequiredNames(e, path);
                foreach (var name in required)
                    if (properties.All(p => p.Item1 != name)) throw new ArgumentException($"{path}: required property '{name}' is not among the properties");
                return new JsonSchemaNode(JsonKind.Object) { Properties = properties, Required = required, Free = !e.TryGetProperty("properties", out _) };
            case "array": return new JsonSchemaNode(JsonKind.Array) { Items = e.TryGetProperty("items", out var items) ? Parse(items, path + "[]") : Any };
            case "string": return new JsonSchemaNode(JsonKind.String);
            case "number": return new JsonSchemaNode(JsonKind.Number);
            case "integer": return new JsonSchemaNode(JsonKind.Integer);
            case "boolean": return new JsonSchemaNode(JsonKind.Boolean);
            case "null": return new JsonSchemaNode(JsonKind.Null);
            case null: return Any;
            case var type: throw new ArgumentException($"{path}: unknown type '{type}'");
        }
    }

    /// <summary>The schema's type: a string, or a list's first non-null entry; null when it names none.</summary>
    private static string? TypeName(JsonElement e, string path)
    {
        if (!e.TryGetProperty("type", out var t)) return null;
        if (t.ValueKind == JsonValueKind.String) return t.GetString();
        if (t.ValueKind == JsonValueKind.Array && t.GetArrayLength() > 0 && t.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
            return t.EnumerateArray().Select(x => x.GetString()).FirstOrDefault(x => x != "null") ?? "null";
        throw new ArgumentException($"{path}.type: must be a type name or a non-empty list of them");
    }

    private static HashSet<string> RequiredNames(JsonElement e, string path)
    {
        if (!e.TryGetProperty("required", out var r)) return [];
        if (r.ValueKind != JsonValueKind.Array || r.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            throw new ArgumentException($"{path}.required: must be an array of property names");
        return r.EnumerateArray().Select(x => x.GetString()!).ToHashSet();
    }
}
