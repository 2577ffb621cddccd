using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Substrate.Server.Endpoints;

/// <summary>
/// Reads a JSON request body: a body not declared JSON → 415; bad JSON, invalid UTF-8 or a lone surrogate in any string
/// (which System.Text.Json accepts at parse and throws on only when the string is read) → 400 invalid_json; too large →
/// 413 through Kestrel's limit.
/// </summary>
public static class RequestBody
{
    public static async Task<JsonDocument> Read(HttpContext context)
    {
        if (context.Request.ContentType is not { } type || !type.Contains("json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, "the body must be JSON (Content-Type: application/json)", code: "unsupported_media_type");
        var doc = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        try
        {
            CheckStrings(doc.RootElement, "");
            return doc;
        }
        catch
        {
            doc.Dispose();
            throw;
        }
    }

    /// <summary>Reads every string and property name once, so one that cannot be decoded is refused here, naming where it is.</summary>
    private static void CheckStrings(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                Decode(() => element.GetString(), path);
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray()) CheckStrings(item, $"{path}[{i++}]");
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    var name = Decode(() => property.Name, path);
                    CheckStrings(property.Value, path.Length == 0 ? name : $"{path}.{name}");
                }
                break;
        }
    }

    private static string Decode(Func<string?> read, string path)
    {
        try { return read() ?? ""; }
        catch (InvalidOperationException)
        {
            var where = path.Length == 0 ? "the body" : $"'{path}'";
            throw new ApiException(400, $"{where} holds a string that is not valid UTF-8 or has a lone surrogate", param: path.Length == 0 ? null : path,
                code: "invalid_json");
        }
    }
}
