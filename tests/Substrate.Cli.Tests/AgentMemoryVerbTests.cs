namespace Substrate.Cli.Tests;

/// <summary><c>substrate agent</c>'s memory as a user runs it, against a scripted OpenAI-compatible endpoint: named
/// sessions in the memory file, the remember tool and recall, the context budget.</summary>
public sealed class AgentMemoryVerbTests : IDisposable
{
    readonly string folder = Path.Combine(Path.GetTempPath(), $"agent-memory-verb-{Guid.NewGuid():N}");

    string Db => Path.Combine(folder, "agents.db");

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    static void Ok(SubstrateProcess.Result result) =>
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout: {result.Stdout}\nstderr: {result.Stderr}");

    [Fact]
    public void A_named_session_continues_in_the_memory_file_and_another_name_starts_afresh()
    {
        using var endpoint = new FakeOpenAiEndpoint("Hello, Ada.");
        string[] common = ["agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--memory-db", Db];
        Ok(SubstrateProcess.Run([.. common, "--session", "ada", "I am Ada."]));
        var second = SubstrateProcess.Run([.. common, "--session", "ada", "Who am I?"]);
        Ok(second);
        Assert.Contains("agent: session 'ada' (2 messages so far)", second.Stderr);
        Ok(SubstrateProcess.Run([.. common, "--session", "bob", "Who am I?"]));
        Assert.Equal(3, endpoint.Requests.Count);
        Assert.Contains("I am Ada.", endpoint.Requests[1]);
        Assert.Contains("Hello, Ada.", endpoint.Requests[1]);
        Assert.DoesNotContain("I am Ada.", endpoint.Requests[2]);
    }

    [Fact]
    public void A_remembered_fact_is_recalled_in_a_later_conversation()
    {
        using var endpoint = new FakeOpenAiEndpoint("remember({\"fact\":\"The user's cat is called Zazu.\"})", "Noted.", "Zazu.");
        string[] common = ["agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--memory-db", Db, "--tools", "memory"];
        var first = SubstrateProcess.Run([.. common, "My cat is called Zazu, remember it."]);
        Ok(first);
        Assert.Contains("← remembered: The user's cat is called Zazu.", first.Stderr);
        var second = SubstrateProcess.Run([.. common, "What is my cat called?"]);
        Ok(second);
        Assert.Contains("agent: recalled The user's cat is called Zazu. (", second.Stderr);
        Assert.Contains("Facts you remember (from earlier conversations):\\n- The user's cat is called Zazu.", endpoint.Requests[2]);
    }

    [Fact]
    public void Over_the_context_budget_the_oldest_turn_is_left_out_with_a_note()
    {
        using var endpoint = new FakeOpenAiEndpoint("ok");
        var first = string.Join(' ', Enumerable.Repeat("alpha", 200)); // 1,199 characters: ~300 tokens by the estimate
        string[] common = ["agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--memory-db", Db, "--session", "long",
            "--context", "450", "--max-tokens", "16"];
        Ok(SubstrateProcess.Run([.. common, first]));
        Ok(SubstrateProcess.Run([.. common, string.Join(' ', Enumerable.Repeat("beta", 200))]));
        Assert.Contains("alpha alpha", endpoint.Requests[0]);
        Assert.DoesNotContain("alpha", endpoint.Requests[1]);
        Assert.Contains("[2 earlier messages were left out to fit the model's context.]", endpoint.Requests[1]);
    }

    [Theory]
    [InlineData("--session", "../escape", "error: session name '../escape' must be")]
    [InlineData("--context-policy", "forget", "error: --context-policy must be drop or summarize, not 'forget'")]
    [InlineData("--context", "100", "error: the context (100 tokens) leaves no room")]
    public void Bad_memory_flags_are_one_clear_error(string flag, string value, string error)
    {
        using var endpoint = new FakeOpenAiEndpoint("never");
        var result = SubstrateProcess.Run("agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--memory-db", Db, flag, value, "hi");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(error, result.Stderr);
        Assert.Empty(endpoint.Requests);
    }
}
