namespace Substrate.Inference.Serving;

/// <summary>The shapes an output may be asked to have.</summary>
public enum ResponseFormatKind
{
    /// <summary>Free text.</summary>
    Text,
    /// <summary>Any JSON object.</summary>
    JsonObject,
    /// <summary>JSON valid against <see cref="ResponseFormat.Schema"/>.</summary>
    JsonSchema,
}

/// <summary>The shape the output must have: <see cref="Text"/>, <see cref="JsonObject"/> or <see cref="JsonSchema"/>(schema).
/// Only these can be made, so a schema comes exactly with JsonSchema.</summary>
public sealed record ResponseFormat
{
    private ResponseFormat(ResponseFormatKind kind, string? schema) => (Kind, Schema) = (kind, schema);

    public static ResponseFormat Text { get; } = new(ResponseFormatKind.Text, null);
    public static ResponseFormat JsonObject { get; } = new(ResponseFormatKind.JsonObject, null);

    /// <summary>JSON valid against <paramref name="schema"/> (JSON Schema text, the subset <see cref="JsonSchemaNode"/> reads).</summary>
    public static ResponseFormat JsonSchema(string schema) =>
        new(ResponseFormatKind.JsonSchema, string.IsNullOrEmpty(schema) ? throw new ArgumentException("json_schema needs a schema") : schema);

    public ResponseFormatKind Kind { get; }

    /// <summary>The JSON Schema text; set exactly when <see cref="Kind"/> is <see cref="ResponseFormatKind.JsonSchema"/>.</summary>
    public string? Schema { get; }
}
