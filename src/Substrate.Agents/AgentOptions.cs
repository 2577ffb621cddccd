namespace Substrate.Agents;

/// <summary>The limits and settings of one agent run.</summary>
public sealed record AgentOptions
{
    /// <summary>Model calls per goal at most (M.E.AI's MaximumIterationsPerRequest): tool rounds before the loop stops.</summary>
    public int MaxSteps { get; init; } = 10;

    /// <summary>How long one tool call may run; past it the model gets an error result, not a hang.</summary>
    public TimeSpan ToolTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Characters of a tool result the model sees; a longer result is cut with a note saying how long it was.</summary>
    public int MaxToolResultChars { get; init; } = 16_000;

    /// <summary>The system instructions (null: <see cref="DefaultInstructions"/>).</summary>
    public string? Instructions { get; init; }

    /// <summary>Sampling: 0 is greedy.</summary>
    public float Temperature { get; init; } = 0;

    public int MaxOutputTokens { get; init; } = 256;

    /// <summary>The model id sent with each request (an in-process adapter is "base:adapter"); null: the client's default.</summary>
    public string? ModelId { get; init; }

    /// <summary>Tool mode of the first step (M.E.AI resets a required mode after it, so the model can then answer);
    /// null: the model chooses.</summary>
    public Microsoft.Extensions.AI.ChatToolMode? ToolMode { get; init; }

    /// <summary>Whether traces carry message and tool-argument text (OpenTelemetry's sensitive data), not only names and counts.</summary>
    public bool TraceContent { get; init; } = true;

    /// <summary>Run on the messages before each model call: <see cref="Context.ContextBudgetReducer"/> keeps them within
    /// the model's context (null: sent as they are).</summary>
    public Microsoft.Extensions.AI.IChatReducer? ContextReducer { get; init; }

    /// <summary>Agent Framework context providers run before each goal (<see cref="Memory.MemoryRecall"/>).</summary>
    public IEnumerable<Microsoft.Agents.AI.AIContextProvider>? ContextProviders { get; init; }

    public const string DefaultInstructions =
        "You are a helpful assistant. Use the tools when they help; when you have the answer, reply with it plainly.";
}
