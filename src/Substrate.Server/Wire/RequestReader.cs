using System.Text.Json;

namespace Substrate.Server.Wire;

/// <summary>Reads request fields with OpenAI's validation: a wrong type or range is a 400 naming the parameter.</summary>
/// <remarks>A nested object is read with the path of its parent (<c>messages[1]</c>), so errors name the full parameter.</remarks>
public readonly struct RequestReader(JsonElement root, string path = "")
{
    public JsonElement Root => root;

    /// <summary>The full parameter name of field <paramref name="name"/>: <c>messages[1].content</c>.</summary>
    public string Param(string name) => path.Length == 0 ? name : $"{path}.{name}";

    /// <summary>Field <paramref name="name"/> read as a nested object (null when absent), else a 400.</summary>
    public RequestReader? Object(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Object } v => new RequestReader(v, Param(name)),
        _ => throw ApiException.Invalid($"'{Param(name)}' must be an object", Param(name), "invalid_type"),
    };

    /// <summary>Field <paramref name="name"/> as an array (null when absent), else a 400.</summary>
    public JsonElement? Array(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Array } v => v,
        _ => throw ApiException.Invalid($"'{Param(name)}' must be an array", Param(name), "invalid_type"),
    };

    /// <summary>The entries of array field <paramref name="name"/>, each as an object reader named <c>name[i]</c>.</summary>
    public IEnumerable<RequestReader> Objects(string name)
    {
        if (Array(name) is not { } array) yield break;
        var i = 0;
        foreach (var e in array.EnumerateArray())
        {
            var param = $"{Param(name)}[{i++}]";
            yield return e.ValueKind == JsonValueKind.Object ? new RequestReader(e, param)
                : throw ApiException.Invalid($"'{param}' must be an object", param, "invalid_type");
        }
    }

    public static RequestReader Of(JsonDocument doc) =>
        doc.RootElement.ValueKind == JsonValueKind.Object ? new RequestReader(doc.RootElement)
            : throw ApiException.Invalid("the body must be a JSON object", code: "invalid_json");

    public bool Has(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public string RequiredString(string name) =>
        String(name) ?? throw ApiException.Invalid($"'{Param(name)}' is required", Param(name), "missing_required_parameter");

    public string? String(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        _ => throw ApiException.Invalid($"'{Param(name)}' must be a string", Param(name), "invalid_type"),
    };

    public bool? Bool(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw ApiException.Invalid($"'{Param(name)}' must be a boolean", Param(name), "invalid_type"),
    };

    public double? Number(string name, double min, double max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw ApiException.Invalid($"'{Param(name)}' must be a number", Param(name), "invalid_type");
        var x = v.GetDouble();
        return x >= min && x <= max ? x
            : throw ApiException.Invalid($"'{Param(name)}' must be between {min} and {max} (got {x})", Param(name), "invalid_value");
    }

    public long? Integer(string name, long min, long max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x))
            throw ApiException.Invalid($"'{Param(name)}' must be an integer", Param(name), "invalid_type");
        return x >= min && x <= max ? x
            : throw ApiException.Invalid($"'{Param(name)}' must be between {min} and {max} (got {x})", Param(name), "invalid_value");
    }

    /// <summary>A string or an array of strings (stop, prompt, input).</summary>
    public List<string>? Strings(string name, int maxCount)
    {
        if (Get(name) is not { } v) return null;
        var list = v.ValueKind switch
        {
            JsonValueKind.String => [v.GetString()!],
            JsonValueKind.Array when v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String)
                => v.EnumerateArray().Select(x => x.GetString()!).ToList(),
            _ => throw ApiException.Invalid($"'{Param(name)}' must be a string or an array of strings", Param(name), "invalid_type"),
        };
        return list.Count <= maxCount ? list
            : throw ApiException.Invalid($"'{Param(name)}' has {list.Count} entries; at most {maxCount}", Param(name), "invalid_value");
    }
}
