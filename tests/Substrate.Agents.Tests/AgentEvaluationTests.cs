using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Substrate.Agents.Evaluation;
using Substrate.Agents.Tools;

namespace Substrate.Agents.Tests;

public class AgentEvaluationTests
{
    /// <summary>A model that, offered tools, calls the calculator on the goal's expression and answers with the result;
    /// offered none, answers "42". Each reply reports 10 prompt and 2 completion tokens.</summary>
    sealed class CalculatingModel : IChatClient
    {
        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates()) yield return update;
        }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            var list = messages.ToList();
            var result = list.SelectMany(m => m.Contents).OfType<FunctionResultContent>().LastOrDefault();
            var goal = list.Last(m => m.Role == ChatRole.User).Text;
            AIContent reply = result is not null ? new TextContent(ToolGuard.ResultText(result.Result))
                : options?.Tools is { Count: > 0 } ? new FunctionCallContent("c1", goal.StartsWith("Call") ? "missing" : "calculator",
                    new Dictionary<string, object?> { ["expression"] = goal.Split(' ', 3)[2].TrimEnd('?') })
                : new TextContent("42");
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [reply, new UsageContent(new UsageDetails
            {
                InputTokenCount = 10, OutputTokenCount = 2,
            })])));
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    [Fact]
    public async Task It_scores_each_task_with_and_without_tools_and_counts_steps_tokens_and_errors()
    {
        AgentTask[] tasks =
        [
            new("What is 6 * 7?", ["calculator"], "42", "arithmetic"),
            new("What is 2,000 + 345?", ["calculator"], "2,345.", "arithmetic"), // the calculator fails on "2,000": bad arguments
            new("What is 1000 + 234?", ["calculator"], "1,234", "arithmetic"),
            new("Call the 1 + 1", ["calculator"], "2", "other"), // calls a tool that is not offered
        ];
        var outcomes = new List<AgentTaskOutcome>();
        var report = await new AgentEvaluation(new CalculatingModel(), [BuiltInTools.Calculator()], new AgentOptions { MaxSteps = 3 })
            .RunAsync(tasks, outcomes.Add);

        Assert.Equal(8, outcomes.Count);
        Assert.Equal([true, false, true, false], outcomes.Select(o => o.WithTools).Take(4));
        Assert.Equal(0.5, report.WithTools.Success); // 42 and 1234
        Assert.Equal(0.25, report.WithoutTools.Success); // "42" is right once
        Assert.Equal(2, report.WithTools.StepsPerTask);
        Assert.Equal(1, report.WithTools.ToolCallsPerTask);
        Assert.Equal(24, report.WithTools.TokensPerTask); // two model calls of 10 + 2
        Assert.Equal(1, report.WithoutTools.StepsPerTask);
        Assert.Equal(12, report.WithoutTools.TokensPerTask);
        Assert.Equal(new Dictionary<string, int> { ["bad_arguments"] = 1, ["unknown_tool"] = 1 }, report.WithTools.Errors);
        Assert.Empty(report.WithoutTools.Errors);
        Assert.Equal(new Dictionary<string, double> { ["arithmetic"] = 2 / 3.0, ["other"] = 0 }, report.WithTools.SuccessByKind);
        Assert.Equal("1234", outcomes[4].Answer);
    }

    /// <summary>Calls the calculator, then finds the conversation too long for its context.</summary>
    sealed class ShortContextModel : IChatClient
    {
        readonly CalculatingModel inner = new();

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default) => inner.GetStreamingResponseAsync(Check(messages), options, cancellationToken);

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default) => inner.GetResponseAsync(Check(messages), options, cancellationToken);

        static IEnumerable<ChatMessage> Check(IEnumerable<ChatMessage> messages) =>
            messages.Any(m => m.Role == ChatRole.Tool) ? throw new Substrate.Inference.Serving.PromptTooLongException(300, 256) : messages;

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    [Fact]
    public async Task A_conversation_that_outgrows_the_context_fails_its_task_and_the_evaluation_goes_on()
    {
        AgentTask[] tasks = [new("What is 6 * 7?", ["calculator"], "42", "arithmetic"), new("What is 1 + 1?", ["calculator"], "2", "arithmetic")];
        var report = await new AgentEvaluation(new ShortContextModel(), [BuiltInTools.Calculator()]).RunAsync(tasks);

        Assert.Equal(4, report.Outcomes.Count);
        Assert.Equal(new Dictionary<string, int> { ["context"] = 2 }, report.WithTools.Errors);
        Assert.Equal(0, report.WithTools.Success);
        Assert.Equal(2, report.WithTools.StepsPerTask); // the call, then the step that did not fit
        Assert.Equal(1, report.WithTools.ToolCallsPerTask);
        Assert.Equal(0.5, report.WithoutTools.Success); // "42" without tools, as ever
    }

    [Fact]
    public async Task A_task_naming_a_tool_that_is_not_given_is_refused_before_any_run()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            new AgentEvaluation(new CalculatingModel(), [BuiltInTools.Calculator()]).RunAsync([new AgentTask("x", ["lookup"], "y")]));
        Assert.Equal("a task needs the tool 'lookup'; the tools are: calculator", e.Message);
    }

    [Theory]
    [InlineData("173,412.", "173412")]
    [InlineData("  A Persistently   annoying person ", "a persistently annoying person")]
    [InlineData("\"1,234,567\"", "1234567")]
    [InlineData("3.5", "3.5")]
    public void Answers_are_compared_after_normalisation(string answer, string normalized) =>
        Assert.Equal(normalized, AgentAnswer.Normalize(answer));
}
