namespace Substrate.Server.Wire;

/// <summary>
/// OpenAI's search <c>filters</c> over the two attributes every file here has, <c>file_id</c> and <c>filename</c>: a
/// comparison <c>{type: eq|ne|in|nin, key, value}</c> or a compound <c>{type: and|or, filters: […]}</c>. Other keys
/// and operators are refused (files carry no other attributes), never ignored.
/// </summary>
public static class FileFilter
{
    public static Func<string, string, bool> Parse(RequestReader r)
    {
        var type = r.RequiredString("type");
        if (type is "and" or "or")
        {
            var parts = r.Objects("filters").Select(Parse).ToList();
            if (parts.Count == 0) throw ApiException.Invalid("'filters' must not be empty", r.Param("filters"));
            return type == "and" ? (id, name) => parts.All(p => p(id, name)) : (id, name) => parts.Any(p => p(id, name));
        }
        if (type is not ("eq" or "ne" or "in" or "nin"))
            throw ApiException.Invalid($"filter type must be eq, ne, in, nin, and or or (got '{type}')", r.Param("type"), "unsupported_value");
        var key = r.RequiredString("key");
        Func<string, string, string> attribute = key switch
        {
            "file_id" => (id, _) => id,
            "filename" => (_, name) => name,
            _ => throw ApiException.Invalid($"filter key must be file_id or filename (got '{key}')", r.Param("key"), "unsupported_value"),
        };
        var values = type is "in" or "nin" ? r.Strings("value", 1000) : r.String("value") is { } one ? [one] : null;
        if (values is null) throw ApiException.Invalid($"'value' must be {(type is "in" or "nin" ? "an array of strings" : "a string")}", r.Param("value"));
        return type is "eq" or "in" ? (id, name) => values.Contains(attribute(id, name)) : (id, name) => !values.Contains(attribute(id, name));
    }
}
