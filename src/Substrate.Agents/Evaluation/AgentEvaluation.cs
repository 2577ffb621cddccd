using Microsoft.Extensions.AI;

namespace Substrate.Agents.Evaluation;

/// <summary>How one task went in one setting: the answer and whether it matched, the model calls (steps), tool calls,
/// tokens (prompt + completion over all steps) and the error seen, if any (<see cref="AgentEvaluation.Errors"/>).</summary>
public sealed record AgentTaskOutcome(int Index, string Kind, bool WithTools, bool Success, string Answer, string Expected, int Steps,
    int ToolCalls, long PromptTokens, long CompletionTokens, string? Error)
{
    public long Tokens => PromptTokens + CompletionTokens;
}

/// <summary>The figures of one setting (with or without tools).</summary>
public sealed record AgentEvalFigures(int Tasks, double Success, double StepsPerTask, double ToolCallsPerTask, double TokensPerTask,
    IReadOnlyDictionary<string, int> Errors, IReadOnlyDictionary<string, double> SuccessByKind)
{
    public static AgentEvalFigures Of(IReadOnlyList<AgentTaskOutcome> outcomes) => new(outcomes.Count,
        Mean(outcomes, o => o.Success ? 1 : 0), Mean(outcomes, o => o.Steps), Mean(outcomes, o => o.ToolCalls), Mean(outcomes, o => o.Tokens),
        outcomes.Where(o => o.Error is not null).GroupBy(o => o.Error!).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count()),
        outcomes.GroupBy(o => o.Kind).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => Mean([.. g], o => o.Success ? 1 : 0)));

    static double Mean(IReadOnlyList<AgentTaskOutcome> outcomes, Func<AgentTaskOutcome, double> value) =>
        outcomes.Count == 0 ? 0 : outcomes.Average(value);
}

/// <summary>The result of an evaluation: every outcome, and the figures with tools and without.</summary>
public sealed record AgentEvalReport(IReadOnlyList<AgentTaskOutcome> Outcomes, AgentEvalFigures WithTools, AgentEvalFigures WithoutTools);

/// <summary>
/// The agent benchmark: each task runs through the real <see cref="AgentLoop"/> twice, once with the tools it names and once
/// with none, and its answer is compared with the expected one (<see cref="AgentAnswer"/>). Steps are model calls, tokens
/// are what the model reports (prompt + completion, summed over the steps). Errors, one per outcome at most: <c>step_limit</c>
/// (the loop stopped at its step limit; <c>stopped</c>: by a tool's server), <c>unknown_tool</c> (a call of a tool that is not offered), <c>bad_arguments</c>
/// (a tool failed on the arguments given), <c>unparsed_call</c> (the answer is a call the chat format could not read),
/// <c>context</c> (the conversation outgrew the in-process model's context: that task fails, the evaluation goes on).
/// </summary>
public sealed class AgentEvaluation(IChatClient model, IReadOnlyList<AITool> tools, AgentOptions? options = null)
{
    readonly AgentOptions options = options ?? new AgentOptions();

    public async Task<AgentEvalReport> RunAsync(IReadOnlyList<AgentTask> tasks, Action<AgentTaskOutcome>? onOutcome = null,
        CancellationToken cancellationToken = default)
    {
        var offered = tasks.Select(t => t.Tools.Select(name => tools.FirstOrDefault(x => x.Name == name) ?? throw new ArgumentException(
            $"a task needs the tool '{name}'; the tools are: {string.Join(", ", tools.Select(x => x.Name))}")).ToList()).ToList();
        var outcomes = new List<AgentTaskOutcome>(tasks.Count * 2);
        for (int i = 0; i < tasks.Count; i++)
            foreach (var withTools in new[] { true, false })
            {
                var outcome = await RunOneAsync(i, tasks[i], withTools ? offered[i] : [], withTools, cancellationToken);
                outcomes.Add(outcome);
                onOutcome?.Invoke(outcome);
            }
        return new AgentEvalReport(outcomes, AgentEvalFigures.Of([.. outcomes.Where(o => o.WithTools)]),
            AgentEvalFigures.Of([.. outcomes.Where(o => !o.WithTools)]));
    }

    async Task<AgentTaskOutcome> RunOneAsync(int index, AgentTask task, IReadOnlyList<AITool> offered, bool withTools, CancellationToken cancellationToken)
    {
        var counter = new UsageCounter(model);
        var steps = new List<AgentStep>();
        AgentResult result;
        try
        {
            result = await new AgentLoop(counter, offered, options).RunAsync(task.Goal, steps.Add, cancellationToken: cancellationToken);
        }
        catch (Substrate.Inference.Serving.PromptTooLongException)
        {
            // A model that rambles (a long wrong call, its error fed back) can outgrow a small context mid-task.
            return new AgentTaskOutcome(index, task.Kind, withTools, false, "", task.Answer, counter.Calls,
                steps.OfType<AgentStep.ToolCall>().Count(), counter.PromptTokens, counter.CompletionTokens, "context");
        }
        var success = result.StoppedBy is null && AgentAnswer.Matches(result.Answer, task.Answer);
        return new AgentTaskOutcome(index, task.Kind, withTools, success, result.Answer, task.Answer, counter.Calls, result.ToolCalls,
            counter.PromptTokens, counter.CompletionTokens, Error(result, steps, offered));
    }

    /// <summary>What went wrong in a run, if anything the loop can tell (a wrong answer alone is not an error).</summary>
    public static string? Error(AgentResult result, IReadOnlyList<AgentStep> steps, IReadOnlyList<AITool> offered)
    {
        if (result.StoppedBy is not null) return result.StoppedBy.Contains("step limit", StringComparison.Ordinal) ? "step_limit" : "stopped";
        if (steps.OfType<AgentStep.ToolCall>().Any(c => offered.All(t => t.Name != c.Name))) return "unknown_tool";
        if (steps.OfType<AgentStep.ToolResult>().Any(r => r.Text.StartsWith("error: ", StringComparison.Ordinal))) return "bad_arguments";
        var answer = result.Answer.TrimStart();
        if (answer.StartsWith('{') && answer.Contains("\"name\"", StringComparison.Ordinal)) return "unparsed_call";
        return null;
    }
}
