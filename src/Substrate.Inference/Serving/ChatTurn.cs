namespace Substrate.Inference;

/// <summary>One message of a conversation: role (system, user, assistant, tool), text, and tool calls/results.</summary>
public sealed record ChatTurn(string Role, string? Content, IReadOnlyList<ToolCall>? ToolCalls = null, string? ToolCallId = null, string? Name = null);

/// <summary>A function the model may call: name, description, and its parameters as a JSON Schema (text).</summary>
public sealed record ToolDefinition(string Name, string? Description, string? ParametersSchema);

/// <summary>A call the model made: an id, the function name and its arguments as JSON text.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments);
