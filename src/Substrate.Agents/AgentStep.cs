namespace Substrate.Agents;

/// <summary>One thing that happened in a run, in order, for a caller to show: text the model wrote before calling
/// tools, a tool call (name and JSON arguments), a tool result.</summary>
public abstract record AgentStep
{
    public sealed record Thought(string Text) : AgentStep;

    public sealed record ToolCall(string CallId, string Name, string Arguments) : AgentStep;

    public sealed record ToolResult(string CallId, string Text) : AgentStep;
}

/// <summary>The end of a run: the final answer, the number of tool calls made, and why it stopped early (null: it
/// answered). <paramref name="StoppedBy"/> is set when the step limit was reached or a tool's server died.</summary>
public sealed record AgentResult(string Answer, int ToolCalls, string? StoppedBy);
