using Microsoft.Extensions.AI;
using Substrate.Agents.Memory;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

public sealed class StoredSessionTests : IDisposable
{
    readonly string file = Path.Combine(Path.GetTempPath(), $"agent-memory-{Guid.NewGuid():N}", "agents.db");

    public void Dispose()
    {
        if (Directory.Exists(Path.GetDirectoryName(file))) Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    /// <summary>A model that fails on its first call: a run that ends before its answer, as a killed one does.</summary>
    sealed class Failing() : DelegatingChatClient(new ScriptedChatClient(new Text("never")))
    {
        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default) => throw new IOException("the model went away");

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
            ChatOptions? options = null, CancellationToken cancellationToken = default) => throw new IOException("the model went away");
    }

    [Fact]
    public async Task A_named_session_carries_the_conversation_tool_calls_included_to_the_next_run()
    {
        using (var store = AgentMemoryStore.Open(file)) // the folder is made
        {
            var loop = new AgentLoop(new ScriptedChatClient(CallTool("calculator", ("expression", "2 + 3")), new Text("5, Ada.")),
                [Tools.BuiltInTools.Calculator()]);
            var session = await StoredSession.OpenAsync(loop, store, "ada");
            Assert.Equal(0, session.Count);
            Assert.Equal("5, Ada.", (await loop.RunAsync("I am Ada. What is 2 + 3?", session: session.Session)).Answer);
            session.Save();
            session.Save(); // nothing new: nothing written twice
            Assert.Equal([("ada", 4L)], store.Sessions());
        }
        using (var store = AgentMemoryStore.Open(file)) // a new process, as it were
        {
            var second = new ScriptedChatClient(new Text("You are Ada."));
            var next = new AgentLoop(second, [Tools.BuiltInTools.Calculator()]);
            var resumed = await StoredSession.OpenAsync(next, store, "ada");
            Assert.Equal(4, resumed.Count);
            Assert.Equal("You are Ada.", (await next.RunAsync("Who am I?", session: resumed.Session)).Answer);
            resumed.Save();
            var seen = Assert.Single(second.Requests);
            Assert.Equal(["I am Ada. What is 2 + 3?", "", "", "5, Ada.", "Who am I?"], seen.Select(m => m.Text));
            var call = seen.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
            Assert.Equal(("calculator", "2 + 3"), (call.Name, call.Arguments!["expression"]!.ToString()));
            Assert.Equal("5", ToolGuard.ResultText(seen.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Single().Result));
            Assert.Equal(6, store.LoadMessages("ada").Count);
            Assert.Empty(store.LoadMessages("bob")); // another name is another conversation
        }
    }

    [Fact]
    public async Task A_goal_that_never_finishes_leaves_the_last_complete_turn()
    {
        using var store = AgentMemoryStore.Open(file);
        var loop = new AgentLoop(new ScriptedChatClient(new Text("Hello.")), []);
        var session = await StoredSession.OpenAsync(loop, store, "s");
        await loop.RunAsync("Hi", session: session.Session);
        session.Save();
        Assert.Equal(["Hi", "Hello."], store.LoadMessages("s").Select(m => m.Text));

        var broken = new AgentLoop(new Failing(), []);
        var resumed = await StoredSession.OpenAsync(broken, store, "s");
        await Assert.ThrowsAsync<IOException>(() => broken.RunAsync("Never answered", session: resumed.Session)); // Save is never reached
        Assert.Equal(["Hi", "Hello."], store.LoadMessages("s").Select(m => m.Text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("../x")]
    [InlineData("a b")]
    public void A_session_name_is_a_word_not_a_path(string name) =>
        Assert.Contains("session name", Assert.Throws<ArgumentException>(() => StoredSession.CheckName(name)).Message);

    [Fact]
    public void A_file_that_is_not_SQLite_is_named()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "not a database, just some text that is long enough to have a header");
        Assert.Contains(file, Assert.Throws<InvalidDataException>(() => AgentMemoryStore.Open(file)).Message);
    }
}
