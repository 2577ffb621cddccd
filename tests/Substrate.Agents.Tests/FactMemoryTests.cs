using Microsoft.Extensions.AI;
using Substrate.Agents.Memory;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

public sealed class FactMemoryTests : IDisposable
{
    readonly string file = Path.Combine(Path.GetTempPath(), $"agent-facts-{Guid.NewGuid():N}.db");
    readonly AgentMemoryStore store;
    readonly FactMemory memory;

    public FactMemoryTests()
    {
        store = AgentMemoryStore.Open(file);
        memory = new FactMemory(store, new LetterEmbedder());
    }

    public void Dispose()
    {
        store.Dispose();
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(file)!, Path.GetFileName(file) + "*")) File.Delete(f);
    }

    /// <summary>Records the instructions each model call carried (recalled facts are added to them).</summary>
    sealed class InstructionsSeen(IChatClient inner) : DelegatingChatClient(inner)
    {
        public List<string?> Instructions { get; } = [];

        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            Instructions.Add(options?.Instructions);
            return base.GetResponseAsync(messages, options, cancellationToken);
        }

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
            ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Instructions.Add(options?.Instructions);
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }

    [Fact]
    public async Task Recall_ranks_facts_by_cosine_similarity_of_their_embeddings()
    {
        await memory.RememberAsync("zzz");
        await memory.RememberAsync("  abab  "); // stored trimmed
        await memory.RememberAsync("aaz");
        var recalled = await memory.RecallAsync("a", top: 2);
        Assert.Equal(["aaz", "abab"], recalled.Select(r => r.Fact));
        Assert.Equal(2 / MathF.Sqrt(5), recalled[0].Score, 5); // a·(2a+z)/√5
        Assert.Equal(1 / MathF.Sqrt(2), recalled[1].Score, 5); // a·(a+b)/√2
        Assert.Equal(["zzz"], (await memory.RecallAsync("z", minScore: 0.9f)).Select(r => r.Fact));
        Assert.Empty(await memory.RecallAsync("   "));
    }

    [Fact]
    public async Task The_model_remembers_with_a_tool_and_a_later_goal_sees_the_fact_in_its_instructions()
    {
        var first = new ScriptedChatClient(CallTool("remember", ("fact", "The user's cat is called Zazu.")), new Text("Noted."));
        var writer = new AgentLoop(first, [memory.RememberTool()], new AgentOptions { ContextProviders = [new MemoryRecall(memory)] });
        Assert.Equal("Noted.", (await writer.RunAsync("My cat is called Zazu.")).Answer);
        Assert.Equal(["remembered: The user's cat is called Zazu."], first.ToolResults);

        var recall = new MemoryRecall(memory, minScore: 0.5f);
        var model = new InstructionsSeen(new ScriptedChatClient(new Text("Zazu.")));
        var reader = new AgentLoop(model, [], new AgentOptions { ContextProviders = [recall] }); // a new conversation
        Assert.Equal("Zazu.", (await reader.RunAsync("What is my cat called?")).Answer);
        var fact = Assert.Single(recall.LastRecalled);
        Assert.Equal("The user's cat is called Zazu.", fact.Fact);
        var instructions = Assert.Single(model.Instructions);
        Assert.Contains(AgentOptions.DefaultInstructions, instructions);
        Assert.Contains("Facts you remember (from earlier conversations):\n- The user's cat is called Zazu.", instructions);

        var unrelated = new MemoryRecall(memory, minScore: 0.99f);
        var other = new InstructionsSeen(new ScriptedChatClient(new Text("?")));
        await new AgentLoop(other, [], new AgentOptions { ContextProviders = [unrelated] }).RunAsync("qqq");
        Assert.Empty(unrelated.LastRecalled);
        Assert.Equal(AgentOptions.DefaultInstructions, Assert.Single(other.Instructions));
    }

    [Fact]
    public async Task An_empty_or_huge_fact_is_an_error_the_model_reads()
    {
        var model = new ScriptedChatClient(CallTool("remember", ("fact", " ")), CallTool("remember", ("fact", new string('x', 1001))), new Text("ok"));
        await new AgentLoop(model, [memory.RememberTool()]).RunAsync("remember nothing");
        Assert.Empty(store.Facts());
        Assert.Equal(["error: remember failed: the fact is empty", "error: remember failed: a fact is at most 1000 characters (this one has 1001)"],
            model.ToolResults);
    }

    [Fact]
    public async Task Facts_of_another_embedder_are_refused_by_name()
    {
        store.AddFact("three", [1f, 0f, 0f], DateTimeOffset.UnixEpoch);
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => memory.RecallAsync("x"));
        Assert.Equal($"{file}: a fact has a 3-dimension embedding, the embedder gives 26", error.Message);
    }
}
