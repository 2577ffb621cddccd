using System.Diagnostics;
using System.Text.Json;
using Substrate.Agents.Tests;
using Substrate.Inference.Tests;

namespace Substrate.Cli.Tests;

/// <summary>
/// MCP between two SDKs: <c>substrate mcp</c> (the C# SDK's server) driven by the TypeScript SDK's client
/// (Mcp/ts-sdk-client.cjs), and <c>substrate agent --tools mcp:…</c> (the C# SDK's client) over a server written with
/// the TypeScript SDK (Mcp/ts-sdk-server.cjs). The SDK comes from the test cache (scripts/fetch-test-references.sh).
/// </summary>
public class McpAcrossSdksTests
{
    static string? SdkPrefix =>
        ReferenceCache.File("mcp-sdk", "node_modules", "@modelcontextprotocol", "sdk", "package.json") is { } package
            ? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(package)!, "..", "..", ".."))
            : null;

    static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "Mcp", name);

    static string Substrate => Path.Combine(AppContext.BaseDirectory, "substrate.dll");

    [SkippableFact]
    public async Task The_typescript_sdk_client_lists_and_calls_substrate_mcp_tools()
    {
        Skip.If(SdkPrefix is null, ReferenceCache.Missing);
        var start = new ProcessStartInfo("node", [Script("ts-sdk-client.cjs"), SdkPrefix!, "dotnet", Substrate, "mcp", "--model", TinyModelFolder.Path, "--threads", "1"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(node.ExitCode == 0, $"exit {node.ExitCode}: {await stderr}");
        using var json = JsonDocument.Parse(await stdout);
        var root = json.RootElement;
        Assert.Equal("substrate", root.GetProperty("server").GetString());
        Assert.Equal("""[{"name":"embed","required":["text"]},{"name":"generate","required":["prompt"]}]""", root.GetProperty("tools").GetRawText());
        var vector = JsonSerializer.Deserialize<float[]>(Text(root.GetProperty("embed")))!;
        Assert.Equal(TinyModelFolder.HiddenSize, vector.Length);
        Assert.Equal(1, Math.Sqrt(vector.Sum(x => (double)x * x)), 4); // what /v1/embeddings gives: a unit vector
        Assert.False(root.GetProperty("generate").GetProperty("result").TryGetProperty("isError", out _));
        var missing = root.GetProperty("missingArgument").GetProperty("result");
        Assert.True(missing.GetProperty("isError").GetBoolean()); // an error result the model could read, not a protocol failure
        Assert.Equal("MCP error -32602: Unknown tool: 'no_such_tool'", root.GetProperty("unknownTool").GetProperty("error").GetString());
    }

    static string Text(JsonElement call) => call.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()!;

    [SkippableFact]
    public void Substrate_agent_calls_a_typescript_sdk_server_and_reads_its_results_and_errors()
    {
        Skip.If(SdkPrefix is null, ReferenceCache.Missing);
        using var endpoint = new FakeOpenAiEndpoint("reverse({\"text\":\"stressed\"})", "refuse({})", "It reads desserts.");
        var result = SubstrateProcess.Run("agent", "--endpoint", endpoint.Url, "--model-name", "fake",
            "--tools", $"mcp:node {Script("ts-sdk-server.cjs")} {SdkPrefix}", "Reverse 'stressed'.");
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.Stderr}");
        Assert.Equal("It reads desserts.\n", result.Stdout);
        Assert.Contains("agent: 3 tools (reverse, refuse, crash)", result.Stderr);
        Assert.Contains("\n← desserts\n", result.Stderr);
        Assert.Contains("\n← error: no, never\n", result.Stderr); // the server's isError result, fed back
        Assert.Equal(3, endpoint.Requests.Count);
    }

    [SkippableFact]
    public void A_typescript_sdk_server_that_dies_mid_call_ends_the_run_with_one_clear_error()
    {
        Skip.If(SdkPrefix is null, ReferenceCache.Missing);
        using var endpoint = new FakeOpenAiEndpoint("crash({})", "never asked");
        var result = SubstrateProcess.Run("agent", "--endpoint", endpoint.Url, "--model-name", "fake",
            "--tools", $"mcp:node {Script("ts-sdk-server.cjs")} {SdkPrefix}", "go");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: stopped: MCP server 'node' stopped (exit code 3) during a call to crash", result.Stderr);
        Assert.Single(endpoint.Requests);
    }
}
