namespace Substrate.Inference;

/// <summary>How tools may be used: none, auto (the model decides), required (some tool), or one named tool.</summary>
public sealed record ToolChoice(string Mode, string? Name = null)
{
    public static readonly ToolChoice Auto = new("auto"), None = new("none"), Required = new("required");
}

/// <summary>The shape the output must have: free text, any JSON object, or JSON valid against a schema (text).</summary>
public sealed record ResponseFormat(string Kind, string? Schema = null)
{
    public static readonly ResponseFormat Text = new("text"), JsonObject = new("json_object");
    public static ResponseFormat JsonSchema(string schema) => new("json_schema", schema);
}
