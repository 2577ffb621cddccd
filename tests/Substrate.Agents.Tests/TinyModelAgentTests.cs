using Microsoft.Extensions.AI;
using Substrate.Agents.Tools;
using Substrate.Inference.DotNetAI;

namespace Substrate.Agents.Tests;

/// <summary>The loop over a real (random, tiny) Substrate model through <see cref="SubstrateChatClient"/>: the first
/// step is constrained to a calculator call, its result goes back through the chat format, the model then answers.</summary>
public class TinyModelAgentTests
{
    /// <summary>Counts the model's calls and keeps the messages of the last.</summary>
    sealed class Recording(IChatClient inner) : DelegatingChatClient(inner)
    {
        public int Calls;
        public List<ChatMessage> Last = [];

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
            ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls++;
            Last = [.. messages];
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }

    static async Task<(AgentResult, List<AgentStep>, Recording)> RunOnce()
    {
        using var engine = TinyEngine.Create();
        var steps = new List<AgentStep>();
        var model = new Recording(new SubstrateChatClient(engine));
        var loop = new AgentLoop(model, [BuiltInTools.Calculator()], new AgentOptions
        {
            MaxSteps = 3, MaxOutputTokens = 200, ToolMode = ChatToolMode.RequireSpecific("calculator"),
        });
        return (await loop.RunAsync("What is 6 * 7?", steps.Add), steps, model);
    }

    [Fact]
    public async Task A_real_model_calls_a_tool_reads_the_result_and_answers_deterministically()
    {
        var (result, steps, model) = await RunOnce();
        var call = Assert.IsType<AgentStep.ToolCall>(steps.First(s => s is not AgentStep.Thought));
        Assert.Equal("calculator", call.Name);
        Assert.Equal("{\"expression\":\"\"}", call.Arguments); // constrained to the tool's schema; this seed writes ""
        var fed = Assert.IsType<AgentStep.ToolResult>(steps[1]);
        Assert.Equal(call.CallId, fed.CallId);
        Assert.Equal("error: calculator failed: expected a number at position 1 of ''", fed.Text);
        Assert.Equal(1, result.ToolCalls);
        Assert.Null(result.StoppedBy); // after the required first step the model answers in text
        Assert.Equal(2, model.Calls); // the result went back to the model, which then answered (white space, this seed)
        var back = Assert.Single(model.Last.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal(fed.Text, back.Result);

        var (again, stepsAgain, _) = await RunOnce(); // greedy: the same run twice
        Assert.Equal(result, again);
        Assert.Equal(steps.Select(WithoutCallId), stepsAgain.Select(WithoutCallId)); // call ids are fresh each run
    }

    static AgentStep WithoutCallId(AgentStep step) => step switch
    {
        AgentStep.ToolCall c => c with { CallId = "" },
        AgentStep.ToolResult r => r with { CallId = "" },
        _ => step,
    };
}
