using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace Substrate.Agents.Memory;

/// <summary>
/// Recall before each goal, as an Agent Framework <see cref="AIContextProvider"/>: the facts most similar to the goal
/// (<see cref="FactMemory.RecallAsync"/>) are added to the instructions of that run only (not stored in the
/// conversation). Recall is automatic rather than a <c>recall</c> tool because a small model calls tools unreliably,
/// and one embedding per goal is cheap; <c>remember</c> stays a tool, since only the model knows what is worth keeping.
/// </summary>
public sealed class MemoryRecall(FactMemory memory, int top = 5, float minScore = 0.3f) : AIContextProvider
{
    /// <summary>The facts given to the last run (for a caller to show), best first.</summary>
    public IReadOnlyList<(string Fact, float Score)> LastRecalled { get; private set; } = [];

    protected override async ValueTask<AIContext> ProvideAIContextAsync(InvokingContext context, CancellationToken cancellationToken = default)
    {
        var goal = context.AIContext.Messages?.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        LastRecalled = await memory.RecallAsync(goal, top, minScore, cancellationToken);
        return new AIContext { Instructions = Instructions(LastRecalled) };
    }

    /// <summary>"Facts you remember (from earlier conversations):\n- …" or null when none was recalled.</summary>
    public static string? Instructions(IReadOnlyList<(string Fact, float Score)> facts) =>
        facts.Count == 0 ? null : "Facts you remember (from earlier conversations):\n" + string.Join('\n', facts.Select(f => "- " + f.Fact));
}
