using Microsoft.Extensions.AI;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

public class AgentSessionFileTests
{
    [Fact]
    public async Task A_session_file_carries_the_conversation_to_the_next_run()
    {
        var file = Path.Combine(Path.GetTempPath(), $"agent-session-{Guid.NewGuid():N}.json");
        try
        {
            var first = new ScriptedChatClient(CallTool("calculator", ("expression", "2 + 3")), new Text("5, Ada."));
            var loop = new AgentLoop(first, [Tools.BuiltInTools.Calculator()]);
            var session = await AgentSessionFile.LoadAsync(loop.Agent, file); // no file yet: a new session
            Assert.Equal("5, Ada.", (await loop.RunAsync("I am Ada. What is 2 + 3?", session: session)).Answer);
            await AgentSessionFile.SaveAsync(loop.Agent, session, file);

            var second = new ScriptedChatClient(new Text("You are Ada."));
            var next = new AgentLoop(second, [Tools.BuiltInTools.Calculator()]); // a new process, as it were
            var resumed = await AgentSessionFile.LoadAsync(next.Agent, file);
            Assert.Equal("You are Ada.", (await next.RunAsync("Who am I?", session: resumed)).Answer);
            var seen = Assert.Single(second.Requests);
            Assert.Equal(["I am Ada. What is 2 + 3?", "", "", "5, Ada.", "Who am I?"], seen.Select(m => m.Text));
            Assert.Equal("5", ToolGuard.ResultText(seen.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Single().Result));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task A_broken_session_file_is_named()
    {
        var file = Path.Combine(Path.GetTempPath(), $"agent-session-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, "{ not json");
        try
        {
            var loop = new AgentLoop(new ScriptedChatClient(new Text("x")), []);
            Assert.Contains(file, (await Assert.ThrowsAsync<InvalidDataException>(() => AgentSessionFile.LoadAsync(loop.Agent, file))).Message);
        }
        finally { File.Delete(file); }
    }
}
