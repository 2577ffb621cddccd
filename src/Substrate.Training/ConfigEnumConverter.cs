using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Training;

/// <summary>
/// How config files spell enum values: lower camel case ("eager", "fused"), or a member's
/// <see cref="JsonStringEnumMemberNameAttribute"/> ("bfloat16"); never integers. Put on a config property of an enum type.
/// </summary>
public sealed class ConfigEnumConverter() : JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false)
{
    static readonly JsonSerializerOptions Options = new() { Converters = { new ConfigEnumConverter() } };

    /// <summary>Every value's config spelling, in declaration order.</summary>
    public static IReadOnlyList<string> Names(Type enumType) =>
        Enum.GetValues(enumType).Cast<object>().Select(v => JsonSerializer.Serialize(v, enumType, Options).Trim('"')).ToList();
}
