using Microsoft.Extensions.AI;
using Substrate.Agents.Context;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

/// <summary>The budget in words (one token a word) plus <see cref="ContextBudgetReducer.MessageOverhead"/> a message,
/// so every expectation is counted by hand.</summary>
public class ContextBudgetReducerTests
{
    static int Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    static ChatMessage User(string text) => new(ChatRole.User, text);

    static ChatMessage Assistant(string text) => new(ChatRole.Assistant, text);

    static ChatMessage Call(string id) => new(ChatRole.Assistant, [new FunctionCallContent(id, "calculator", new Dictionary<string, object?> { ["e"] = 1 })]);

    static ChatMessage Result(string id, string text) => new(ChatRole.Tool, [new FunctionResultContent(id, text)]);

    static readonly List<ChatMessage> History =
    [
        new(ChatRole.System, "be brief"),          // 4 + 2
        User("one two three a b c d e f g h i j k l m n o"), Assistant("four"), // 4 + 18, 4 + 1: the first turn (27)
        User("five six"), Call("c1"), Result("c1", "seven eight"), Assistant("nine"), // 6, 5, 6, 5: the second turn (22)
        User("ten"), Call("c2"), Result("c2", "eleven"), Call("c3"), Result("c3", "twelve thirteen"), // the goal (5), then 5 + 5, 5 + 6 (26)
    ];

    static async Task<List<string>> Reduce(int budget, ContextPolicy policy = ContextPolicy.Drop, IChatClient? summarizer = null) =>
        [.. (await new ContextBudgetReducer(budget, Words, policy, summarizer).ReduceAsync(History, default)).Select(Describe)];

    static string Describe(ChatMessage m) => $"{m.Role}:{ContextBudgetReducer.Text(m)}";

    [Fact]
    public async Task Within_the_budget_nothing_changes()
    {
        Assert.Equal(81, History.Sum(new ContextBudgetReducer(0, Words).Count));
        Assert.Equal(History.Select(Describe), await Reduce(81));
    }

    [Fact]
    public async Task The_oldest_whole_turns_go_first_with_a_note_and_the_system_message_stays()
    {
        // 81 - 27 (the first turn) = 54, + 15 (the note: 11 words) = 69
        Assert.Equal(
        [
            "system:be brief", "system:[2 earlier messages were left out to fit the model's context.]",
            "user:five six", "assistant:calculator{\"e\":1}", "tool:seven eight", "assistant:nine",
            "user:ten", "assistant:calculator{\"e\":1}", "tool:eleven", "assistant:calculator{\"e\":1}", "tool:twelve thirteen",
        ], await Reduce(80));
        Assert.Equal(await Reduce(69), await Reduce(80));
        // 69 > 68: the second turn goes too; 54 - 22 + 15 = 47
        Assert.Equal(
        [
            "system:be brief", "system:[6 earlier messages were left out to fit the model's context.]",
            "user:ten", "assistant:calculator{\"e\":1}", "tool:eleven", "assistant:calculator{\"e\":1}", "tool:twelve thirteen",
        ], await Reduce(68));
        Assert.Equal(await Reduce(47), await Reduce(68));
    }

    [Fact]
    public async Task Inside_the_current_turn_a_tool_call_goes_with_its_result_and_the_goal_and_the_last_round_stay()
    {
        // 47 > 46: the first round of the current turn goes (10), 37; the goal and the last round always stay
        Assert.Equal(
        [
            "system:be brief", "system:[8 earlier messages were left out to fit the model's context.]",
            "user:ten", "assistant:calculator{\"e\":1}", "tool:twelve thirteen",
        ], await Reduce(46));
        Assert.Equal(await Reduce(46), await Reduce(1)); // nothing more can go
    }

    [Fact]
    public async Task Summarize_sends_the_models_summary_of_what_was_left_out()
    {
        var summarizer = new ScriptedChatClient(new Text(" Ada asked sums. "));
        // The first turn alone (54) fits without a note, not with the summary (15 words: 54 + 19 = 73 > 70): both turns go.
        var reduced = await Reduce(70, ContextPolicy.Summarize, summarizer);
        Assert.Equal("system:[Summary of 6 earlier messages left out to fit the model's context: Ada asked sums.]", reduced[1]);
        Assert.Equal(["user:ten", "assistant:calculator{\"e\":1}", "tool:eleven"], reduced[2..5]);
        Assert.Equal(2, summarizer.Requests.Count);
        Assert.Equal(["user:one two three a b c d e f g h i j k l m n o", "assistant:four", "user:five six", "assistant:calculator{\"e\":1}",
            "user:seven eight", "assistant:nine",
            "user:Summarize the conversation above in a few sentences: the facts, questions and answers that matter later."],
            summarizer.Requests[^1].Select(m => $"{m.Role}:{m.Text}"));
    }

    [Fact]
    public async Task In_the_loop_the_model_gets_the_reduced_history_and_the_session_keeps_all_of_it()
    {
        var model = new ScriptedChatClient(CallTool("calculator", ("expression", "1 + 1")), new Text("two"), new Text("three"));
        var loop = new AgentLoop(model, [Tools.BuiltInTools.Calculator()],
            new AgentOptions { ContextReducer = new ContextBudgetReducer(30, Words) });
        var session = await loop.Agent.CreateSessionAsync();
        await loop.RunAsync("what is one plus one", session: session);
        await loop.RunAsync("and one plus two", session: session);
        Assert.Equal(6, loop.History.GetMessages(session).Count);
        Assert.Equal(["system:[4 earlier messages were left out to fit the model's context.]", "user:and one plus two"],
            model.Requests[^1].Select(Describe));
    }

    [Fact]
    public void The_budget_is_the_context_less_the_reply_the_instructions_and_the_tools()
    {
        var tool = Tools.BuiltInTools.Calculator();
        var toolWords = Words(tool.Name + tool.Description + tool.JsonSchema.GetRawText());
        Assert.Equal(1000 - 256 - (2 + 4) - toolWords, ContextBudgetReducer.BudgetFor(1000, 256, "be brief", [tool], Words));
        Assert.Equal(3, ContextBudgetReducer.EstimateTokens("123456789"));
    }
}
