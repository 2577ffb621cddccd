namespace Substrate.Inference;

/// <summary>One message of a conversation: role (system, user, assistant, tool), text, and tool calls/results.</summary>
public sealed record ChatTurn(string Role, string? Content, IReadOnlyList<ToolCall>? ToolCalls = null, string? ToolCallId = null, string? Name = null);

/// <summary>A function the model may call: name, description, and its parameters as a JSON Schema (text).</summary>
public sealed record ToolDefinition(string Name, string? Description, string? ParametersSchema);

/// <summary>A call the model made: an id, the function name and its arguments as JSON text.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments);

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
