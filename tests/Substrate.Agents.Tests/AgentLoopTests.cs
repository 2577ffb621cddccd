using System.Diagnostics;
using Microsoft.Extensions.AI;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Substrate.Agents.Tools;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

/// <summary>The loop over a scripted fake model: every failure of a tool becomes a result the model reads.</summary>
public class AgentLoopTests
{
    static readonly AgentOptions Fast = new() { ToolTimeout = TimeSpan.FromSeconds(5) };

    static async Task<(AgentResult Result, List<AgentStep> Steps)> Run(IChatClient model, IEnumerable<AITool> tools, AgentOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var steps = new List<AgentStep>();
        var result = await new AgentLoop(model, tools, options ?? Fast).RunAsync("goal", steps.Add, cancellationToken: cancellationToken);
        return (result, steps);
    }

    [Fact]
    public async Task A_tool_call_is_run_and_its_result_fed_back_before_the_answer()
    {
        var model = new ScriptedChatClient(CallTool("calculator", ("expression", "6 * 7")), new Text("The answer is 42."));
        var (result, steps) = await Run(model, [BuiltInTools.Calculator()]);
        Assert.Equal(new AgentResult("The answer is 42.", 1, null), result);
        Assert.Equal(["42"], model.ToolResults);
        Assert.Equal(2, model.Requests.Count);
        Assert.Equal(new AgentStep.ToolCall("call-1", "calculator", "{\"expression\":\"6 * 7\"}"), steps[0]);
        Assert.Equal(new AgentStep.ToolResult("call-1", "42"), steps[1]);
    }

    [Fact]
    public async Task A_tool_that_throws_is_an_error_result_and_the_loop_goes_on()
    {
        var model = new ScriptedChatClient(CallTool("calculator", ("expression", "1 / 0")), new Text("cannot divide by zero"));
        var (result, _) = await Run(model, [BuiltInTools.Calculator()]);
        Assert.Equal("cannot divide by zero", result.Answer);
        Assert.Equal(["error: calculator failed: division by zero"], model.ToolResults);
    }

    [Fact]
    public async Task Unknown_tools_and_bad_arguments_are_fed_back()
    {
        var unknown = new ScriptedChatClient(CallTool("shell", ("command", "rm -rf /")), new Text("done"));
        Assert.Equal("done", (await Run(unknown, [BuiltInTools.Calculator()])).Result.Answer);
        Assert.Contains("not found", Assert.Single(unknown.ToolResults));

        var missing = new ScriptedChatClient(CallTool("calculator", ("expr", "1")), new Text("done"));
        await Run(missing, [BuiltInTools.Calculator()]);
        var error = Assert.Single(missing.ToolResults);
        Assert.StartsWith("error: calculator failed:", error);
        Assert.Contains("expression", error);
    }

    [Fact]
    public async Task A_slow_tool_times_out_as_an_error_result()
    {
        var slow = AIFunctionFactory.Create(async (CancellationToken c) => { await Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None); return "late"; },
            "slow", "Sleeps.");
        var model = new ScriptedChatClient(CallTool("slow"), new Text("gave up"));
        var watch = Stopwatch.StartNew();
        var (result, _) = await Run(model, [slow], Fast with { ToolTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        Assert.Equal("gave up", result.Answer);
        Assert.Equal(["error: slow timed out after 0.2 s"], model.ToolResults);
    }

    [Fact]
    public async Task A_huge_result_is_cut_with_a_note()
    {
        var huge = AIFunctionFactory.Create(() => new string('x', 10 * 1024 * 1024), "huge", "Returns 10 MB.");
        var model = new ScriptedChatClient(CallTool("huge"), new Text("ok"));
        await Run(model, [huge], Fast with { MaxToolResultChars = 1000 });
        var fed = Assert.Single(model.ToolResults);
        Assert.Equal(new string('x', 1000) + "\n[truncated: the result has 10,485,760 characters, the first 1,000 are shown]", fed);
    }

    [Fact]
    public async Task The_step_limit_stops_a_model_that_never_stops_calling()
    {
        var model = new ScriptedChatClient(CallTool("calculator", ("expression", "1 + 1")));
        var (result, steps) = await Run(model, [BuiltInTools.Calculator()], Fast with { MaxSteps = 3 });
        Assert.Equal("the step limit (3) was reached", result.StoppedBy);
        Assert.True(model.Requests.Count <= 4, $"{model.Requests.Count} model calls");
        Assert.Equal(3, steps.OfType<AgentStep.ToolResult>().Count());
    }

    [Fact]
    public async Task Cancellation_ends_the_run_even_inside_a_tool()
    {
        var started = new TaskCompletionSource();
        var blocking = AIFunctionFactory.Create(async (CancellationToken c) => { started.SetResult(); await Task.Delay(Timeout.Infinite, c); return ""; },
            "block", "Blocks.");
        using var cancel = new CancellationTokenSource();
        var run = Run(new ScriptedChatClient(CallTool("block"), new Text("never")), [blocking], cancellationToken: cancel.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public async Task The_clock_tool_reads_the_injected_clock()
    {
        var model = new ScriptedChatClient(CallTool("current_time"), new Text("ok"));
        await Run(model, [BuiltInTools.Clock(new FixedClock(new DateTimeOffset(2026, 12, 3, 14, 5, 9, TimeSpan.Zero)))]);
        Assert.Equal(["2026-12-03T14:05:09Z (Thursday, UTC)"], model.ToolResults);
    }

    [Fact]
    public async Task Every_step_is_traced_with_OpenTelemetry()
    {
        var spans = new List<Activity>();
        using (Sdk.CreateTracerProviderBuilder().AddSource(AgentTelemetry.SourceName).AddInMemoryExporter(spans).Build())
        {
            var model = new ScriptedChatClient(CallTool("calculator", ("expression", "2 + 2")), new Text("4"));
            await Run(model, [BuiltInTools.Calculator()]);
        }
        var names = spans.Select(s => s.DisplayName).ToList();
        Assert.Equal(2, names.Count(n => n.StartsWith("chat")));
        var tool = Assert.Single(spans, s => s.DisplayName == "execute_tool calculator");
        Assert.Equal("calculator", tool.GetTagItem("gen_ai.tool.name"));
        Assert.Contains(names, n => n.StartsWith("orchestrate_tools"));
    }

    sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
