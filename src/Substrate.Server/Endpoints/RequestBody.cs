using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Substrate.Server;

/// <summary>Reads a JSON request body (bad JSON → 400 invalid_json; too large → 413 through Kestrel's limit).</summary>
public static class RequestBody
{
    public static async Task<JsonDocument> Read(HttpContext context)
    {
        if (context.Request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, "the body must be JSON (Content-Type: application/json)", code: "unsupported_media_type");
        return await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
    }
}
