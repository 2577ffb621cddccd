namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>
/// One message of a conversation, the one message type of fine-tuning, serving, <c>substrate chat</c> and the
/// <c>IChatClient</c>: its role (system, user, assistant, tool), its text ("" when an assistant only calls tools),
/// the tool calls an assistant made, and for a tool result the call it answers and the tool's name.
/// </summary>
public sealed record ChatMessage(string Role, string Content, IReadOnlyList<ToolCall>? ToolCalls = null, string? ToolCallId = null,
    string? Name = null);

/// <summary>A call the model made: an id, the function name and its arguments as JSON text.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments);

/// <summary>A function the model may call: name, description, and its parameters as a JSON Schema (text).</summary>
public sealed record ToolDefinition(string Name, string? Description, string? ParametersSchema);
