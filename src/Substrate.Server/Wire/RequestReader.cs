using System.Text.Json;

namespace Substrate.Server;

/// <summary>Reads request fields with OpenAI's validation: a wrong type or range is a 400 naming the parameter.</summary>
public readonly struct RequestReader(JsonElement root)
{
    public JsonElement Root => root;

    public static RequestReader Of(JsonDocument doc) =>
        doc.RootElement.ValueKind == JsonValueKind.Object ? new RequestReader(doc.RootElement) : throw ApiException.Invalid("the body must be a JSON object", code: "invalid_json");

    public bool Has(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public string RequiredString(string name) =>
        String(name) ?? throw ApiException.Invalid($"'{name}' is required", name, "missing_required_parameter");

    public string? String(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        _ => throw ApiException.Invalid($"'{name}' must be a string", name, "invalid_type"),
    };

    public bool? Bool(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw ApiException.Invalid($"'{name}' must be a boolean", name, "invalid_type"),
    };

    public double? Number(string name, double min, double max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw ApiException.Invalid($"'{name}' must be a number", name, "invalid_type");
        var x = v.GetDouble();
        return x >= min && x <= max ? x : throw ApiException.Invalid($"'{name}' must be between {min} and {max} (got {x})", name, "invalid_value");
    }

    public long? Integer(string name, long min, long max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x)) throw ApiException.Invalid($"'{name}' must be an integer", name, "invalid_type");
        return x >= min && x <= max ? x : throw ApiException.Invalid($"'{name}' must be between {min} and {max} (got {x})", name, "invalid_value");
    }

    /// <summary>A string or an array of strings (stop, prompt, input).</summary>
    public List<string>? Strings(string name, int maxCount)
    {
        if (Get(name) is not { } v) return null;
        var list = v.ValueKind switch
        {
            JsonValueKind.String => [v.GetString()!],
            JsonValueKind.Array when v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String) => v.EnumerateArray().Select(x => x.GetString()!).ToList(),
            _ => throw ApiException.Invalid($"'{name}' must be a string or an array of strings", name, "invalid_type"),
        };
        return list.Count <= maxCount ? list : throw ApiException.Invalid($"'{name}' has {list.Count} entries; at most {maxCount}", name, "invalid_value");
    }
}
