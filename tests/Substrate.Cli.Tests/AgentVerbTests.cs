using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Substrate.Agents.Tests;

namespace Substrate.Cli.Tests;

/// <summary><c>substrate agent</c> and <c>substrate mcp</c> as a user runs them: over a tiny model folder in process,
/// over a scripted OpenAI-compatible endpoint, with an MCP server that dies mid-call.</summary>
public class AgentVerbTests
{
    static void Ok(SubstrateProcess.Result result) =>
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout: {result.Stdout}\nstderr: {result.Stderr}");

    [Fact]
    public void An_agent_over_a_model_folder_answers_on_stdout()
    {
        var result = SubstrateProcess.Run("agent", "--model", TinyModelFolder.Path, "--tools", "calc,time", "--max-tokens", "8", "--threads", "1",
            "What is 6 * 7?");
        Ok(result);
        Assert.Contains("agent: 2 tools (calculator, current_time), at most 10 steps", result.Stderr);
        // This random model answers with newlines only (the trace shows them): said on stderr, nothing on stdout.
        Assert.Contains("agent: the model's answer is empty (only white space)", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void An_agent_over_an_openai_endpoint_calls_tools_and_prints_the_answer()
    {
        using var endpoint = new FakeOpenAiEndpoint("calculator({\"expression\":\"6*7\"})", "The answer is 42.");
        var result = SubstrateProcess.Run("agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--api-key", "k", "--tools", "calc",
            "--trace", "console", "What is 6 * 7?");
        Ok(result);
        Assert.Equal("The answer is 42.\n", result.Stdout);
        Assert.Contains("\n→ calculator({\"expression\":\"6*7\"})\n", result.Stderr);
        Assert.Contains("\n← 42\n", result.Stderr);
        Assert.Contains("execute_tool calculator", result.Stderr); // the console trace, on stderr
        Assert.Equal(2, endpoint.Requests.Count);
        Assert.Contains("\"role\":\"tool\"", endpoint.Requests[1]);
    }

    [Fact]
    public void A_session_file_remembers_the_conversation_between_runs()
    {
        var session = Path.Combine(Path.GetTempPath(), $"agent-session-{Guid.NewGuid():N}.json");
        try
        {
            using var endpoint = new FakeOpenAiEndpoint("Hello, Ada.");
            string[] common = ["agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--session", session];
            Ok(SubstrateProcess.Run([.. common, "I am Ada."]));
            Ok(SubstrateProcess.Run([.. common, "Who am I?"]));
            Assert.Equal(2, endpoint.Requests.Count);
            Assert.Contains("I am Ada.", endpoint.Requests[1]);
            Assert.Contains("Hello, Ada.", endpoint.Requests[1]);
        }
        finally { File.Delete(session); }
    }

    [Fact]
    public void A_tool_server_that_dies_mid_call_ends_the_run_with_one_clear_error()
    {
        var script = Path.Combine(Path.GetTempPath(), $"dying-mcp-{Guid.NewGuid():N}.sh");
        File.WriteAllText(script, DyingServer);
        try
        {
            using var endpoint = new FakeOpenAiEndpoint("crash({})", "never asked");
            var result = SubstrateProcess.Run("agent", "--endpoint", endpoint.Url, "--model-name", "fake", "--tools", $"mcp:bash {script}", "go");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains("→ crash({})", result.Stderr);
            Assert.Contains("error: stopped: MCP server 'bash' stopped (exit code 3) during a call to crash", result.Stderr);
            Assert.Single(endpoint.Requests);
        }
        finally { File.Delete(script); }
    }

    /// <summary>An MCP server in a few lines of bash (not the SDK): answers initialize and tools/list, dies on tools/call.</summary>
    const string DyingServer = """
        while IFS= read -r line; do
          id=$(printf '%s' "$line" | sed -n 's/.*"id":\("[^"]*"\|[0-9]*\).*/\1/p')
          case "$line" in
            *'"initialize"'*) echo '{"jsonrpc":"2.0","id":'"$id"',"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"dying","version":"1"}}}' ;;
            *'"tools/list"'*) echo '{"jsonrpc":"2.0","id":'"$id"',"result":{"tools":[{"name":"crash","description":"Dies.","inputSchema":{"type":"object","properties":{}}}]}}' ;;
            *'"tools/call"'*) exit 3 ;;
          esac
        done
        """;

    [Fact]
    public async Task Substrate_mcp_serves_generate_and_embed_over_stdio()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = "dotnet", Arguments = [Path.Combine(AppContext.BaseDirectory, "substrate.dll"), "mcp", "--model", TinyModelFolder.Path, "--threads", "1"],
            Name = "substrate",
        });
        await using var client = await McpClient.CreateAsync(transport);
        Assert.Equal(["embed", "generate"], (await client.ListToolsAsync()).Select(t => t.Name).Order());
        var generated = await client.CallToolAsync("generate", new Dictionary<string, object?> { ["prompt"] = "6 * 7", ["max_tokens"] = 4 });
        Assert.NotEqual(true, generated.IsError);
        Assert.IsType<TextContentBlock>(Assert.Single(generated.Content));
        var embedded = await client.CallToolAsync("embed", new Dictionary<string, object?> { ["text"] = "the answer" });
        var vector = System.Text.Json.JsonSerializer.Deserialize<float[]>(((TextContentBlock)embedded.Content[0]).Text)!;
        Assert.Equal(TinyModelFolder.HiddenSize, vector.Length);
    }
}
