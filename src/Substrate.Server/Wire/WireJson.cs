using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Server;

/// <summary>JSON as the OpenAI API writes it: snake_case names, absent rather than null.</summary>
public static class WireJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
