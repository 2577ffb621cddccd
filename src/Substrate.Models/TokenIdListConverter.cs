using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Models;

/// <summary>Reads token ids written as one number or a list of numbers (generation_config.json's eos_token_id);
/// writes one id as a number, several as a list.</summary>
public sealed class TokenIdListConverter : JsonConverter<IReadOnlyList<int>?>
{
    public override IReadOnlyList<int>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.Number: return [reader.GetInt32()];
            case JsonTokenType.StartArray:
                var ids = new List<int>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    ids.Add(reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : throw new JsonException("token id lists must hold numbers"));
                return ids;
            default: throw new JsonException($"token ids must be a number or a list of numbers, not {reader.TokenType}");
        }
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<int>? value, JsonSerializerOptions options)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        if (value.Count == 1) { writer.WriteNumberValue(value[0]); return; }
        writer.WriteStartArray();
        foreach (var id in value) writer.WriteNumberValue(id);
        writer.WriteEndArray();
    }
}
