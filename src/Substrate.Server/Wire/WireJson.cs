using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Server.Wire;

/// <summary>JSON as the OpenAI API writes it: snake_case names, absent rather than null, text unescaped beyond what
/// JSON requires (model output is full of quotes and angle brackets; this is an API, never embedded in HTML).</summary>
public static class WireJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
