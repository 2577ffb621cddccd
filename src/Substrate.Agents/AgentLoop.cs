using System.Text;
using System.Text.Json;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace Substrate.Agents;

/// <summary>
/// The agent loop, made of the ecosystem's parts: a Microsoft Agent Framework <see cref="ChatClientAgent"/> over
/// <c>model → OpenTelemetry → function invocation</c> (M.E.AI's <see cref="FunctionInvokingChatClient"/>, with
/// <see cref="AgentOptions.MaxSteps"/> as its MaximumIterationsPerRequest and <see cref="ToolGuard"/> as its invoker).
/// Any <see cref="IChatClient"/> drives it: a Substrate model in process, an OpenAI-compatible endpoint, a test's fake.
/// Unknown tools are answered by the function invoker itself ("function not found"), fed back to the model.
/// </summary>
public sealed class AgentLoop
{
    readonly ToolGuard guard;
    readonly AgentOptions options;

    public AgentLoop(IChatClient model, IEnumerable<AITool> tools, AgentOptions? options = null, Func<AIFunction, ValueTask<string?>>? sourceGone = null)
    {
        this.options = options ?? new AgentOptions();
        if (this.options.MaxSteps < 1) throw new ArgumentException("the step limit must be ≥ 1");
        guard = new ToolGuard(this.options, sourceGone);
        var builder = new ChatClientBuilder(model)
            .UseFunctionInvocation(configure: f =>
            {
                f.MaximumIterationsPerRequest = this.options.MaxSteps;
                f.MaximumConsecutiveErrorsPerRequest = this.options.MaxSteps;
                f.IncludeDetailedErrors = true;
                f.TerminateOnUnknownCalls = false;
                f.FunctionInvoker = guard.InvokeAsync;
            });
        // Inside the function invocation: the budget is checked before every model call, tool rounds included.
        if (this.options.ContextReducer is { } reducer) builder = builder.UseChatReducer(reducer);
        var pipeline = builder
            .UseOpenTelemetry(sourceName: AgentTelemetry.SourceName, configure: c => c.EnableSensitiveData = this.options.TraceContent)
            .Build();
        Agent = new ChatClientAgent(pipeline, new ChatClientAgentOptions
        {
            Name = "substrate-agent",
            UseProvidedChatClientAsIs = true, // the pipeline above already invokes functions
            ChatHistoryProvider = History,
            AIContextProviders = this.options.ContextProviders,
            ChatOptions = new ChatOptions
            {
                Instructions = this.options.Instructions ?? AgentOptions.DefaultInstructions,
                Tools = [.. tools],
                Temperature = this.options.Temperature,
                MaxOutputTokens = this.options.MaxOutputTokens,
                ModelId = this.options.ModelId,
                ToolMode = this.options.ToolMode,
            },
        });
    }

    /// <summary>Where a session's conversation lives while it runs (<see cref="StoredSession"/> loads and saves it).</summary>
    public InMemoryChatHistoryProvider History { get; } = new();

    /// <summary>The Agent Framework agent (for a caller that wants sessions or its own run loop).</summary>
    public AIAgent Agent { get; }

    /// <summary>Runs one goal to its answer, streaming each step to <paramref name="onStep"/>. With a
    /// <paramref name="session"/> the run sees the conversation so far and adds to it (<see cref="AgentSessionFile"/>).</summary>
    public async Task<AgentResult> RunAsync(string goal, Action<AgentStep>? onStep = null, AgentSession? session = null,
        CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        var calls = 0;
        var unanswered = new HashSet<string>();
        await foreach (var update in Agent.RunStreamingAsync(goal, session, cancellationToken: cancellationToken))
            foreach (var content in update.Contents)
                switch (content)
                {
                    case TextContent t:
                        text.Append(t.Text);
                        break;
                    case FunctionCallContent call:
                        if (text.Length > 0) onStep?.Invoke(new AgentStep.Thought(text.ToString().Trim()));
                        text.Clear();
                        calls++;
                        unanswered.Add(call.CallId);
                        var arguments = JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>());
                        onStep?.Invoke(new AgentStep.ToolCall(call.CallId, call.Name, arguments));
                        break;
                    case FunctionResultContent result:
                        unanswered.Remove(result.CallId);
                        onStep?.Invoke(new AgentStep.ToolResult(result.CallId, ToolGuard.ResultText(result.Result)));
                        break;
                }
        var stoppedBy = guard.StoppedBy ?? (unanswered.Count > 0 ? $"the step limit ({options.MaxSteps}) was reached" : null);
        return new AgentResult(text.ToString().Trim(), calls, stoppedBy);
    }
}
