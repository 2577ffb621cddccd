using System.ComponentModel;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.Extensions.AI;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Substrate.Agents.Mcp;
using Substrate.Agents.Tools;
using Substrate.Inference.DotNetAI;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

/// <summary>MCP both ways, with the MCP SDK's own client and server over in-process pipes.</summary>
public class McpTests
{
    /// <summary>A server and a client transport joined by two pipes; the server runs until the client leaves.</summary>
    sealed class Link(McpServerOptions options) : IAsyncDisposable
    {
        readonly Pipe toServer = new(), toClient = new();
        readonly CancellationTokenSource stop = new();
        Task? server;

        public IClientTransport Start()
        {
            var transport = new StreamServerTransport(toServer.Reader.AsStream(), toClient.Writer.AsStream(), "test-server");
            server = SubstrateMcpServer.RunAsync(transport, options, stop.Token);
            return new StreamClientTransport(toServer.Writer.AsStream(), toClient.Reader.AsStream());
        }

        /// <summary>The server vanishes: both directions close, as when its process dies.</summary>
        public void Kill()
        {
            toClient.Writer.Complete();
            toServer.Reader.Complete();
            stop.Cancel();
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            try { if (server is not null) await server.WaitAsync(TimeSpan.FromSeconds(5)); }
            catch (Exception e) when (e is OperationCanceledException or IOException or TimeoutException) { }
        }
    }

    [Fact]
    public async Task Substrate_serves_generate_and_embed_to_an_mcp_client()
    {
        using var engine = TinyEngine.Create();
        await using var link = new Link(SubstrateMcpServer.Options(new SubstrateChatClient(engine), new SubstrateEmbeddingGenerator(engine)));
        await using var client = await McpClient.CreateAsync(link.Start());
        var tools = await client.ListToolsAsync();
        Assert.Equal(["embed", "generate"], tools.Select(t => t.Name).Order());
        Assert.Equal("substrate", client.ServerInfo?.Name);

        var generated = await client.CallToolAsync("generate", new Dictionary<string, object?> { ["prompt"] = "hi", ["max_tokens"] = 8 });
        Assert.NotEqual(true, generated.IsError);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(generated.Content)).Text;
        var direct = await ((IChatClient)new SubstrateChatClient(engine)).GetResponseAsync("hi", new ChatOptions { MaxOutputTokens = 8, Temperature = 0 });
        Assert.Equal(direct.Text, text);

        var embedded = await client.CallToolAsync("embed", new Dictionary<string, object?> { ["text"] = "abc" });
        var vector = JsonSerializer.Deserialize<float[]>(Assert.IsType<TextContentBlock>(Assert.Single(embedded.Content)).Text)!;
        Assert.Equal(TinyEngine.HiddenSize, vector.Length);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(x => (double)x * x)), 4);

        var bad = await client.CallToolAsync("generate", new Dictionary<string, object?> { ["prompt"] = "hi", ["max_tokens"] = 0 });
        Assert.True(bad.IsError);
    }

    [Fact]
    public async Task With_a_store_substrate_also_serves_search()
    {
        using var engine = TinyEngine.Create();
        using var store = new TinyStore();
        using var search = StoreSearch.Open(store.Path, _ => new LetterEmbedder());
        await using var link = new Link(SubstrateMcpServer.Options(new SubstrateChatClient(engine), new SubstrateEmbeddingGenerator(engine), null, search));
        await using var client = await McpClient.CreateAsync(link.Start());
        Assert.Equal(["embed", "generate", "search"], (await client.ListToolsAsync()).Select(t => t.Name).Order());
        var found = await client.CallToolAsync("search", new Dictionary<string, object?> { ["query"] = "bread baked at dawn", ["top"] = 1 });
        Assert.NotEqual(true, found.IsError);
        Assert.Equal("[1] /docs/bread.txt (line 1): Bread is baked at dawn in a stone oven.",
            Assert.IsType<TextContentBlock>(Assert.Single(found.Content)).Text);
    }

    static McpServerOptions WeatherServer(Func<string, string> weather) => new()
    {
        ServerInfo = new Implementation { Name = "weather", Version = "1" },
        ToolCollection =
        [
            McpServerTool.Create(([Description("A city")] string city) => weather(city),
                new McpServerToolCreateOptions { Name = "weather", Description = "The weather in a city." }),
        ],
    };

    [Fact]
    public async Task The_agent_calls_a_tool_of_an_mcp_server()
    {
        await using var link = new Link(WeatherServer(city => $"sunny in {city}"));
        await using var source = await McpToolSource.ConnectAsync(link.Start(), "test-server");
        var model = new ScriptedChatClient(CallTool("weather", ("city", "Paris")), new Text("It is sunny."));
        var steps = new List<AgentStep>();
        var result = await new AgentLoop(model, source.Tools, sourceGone: f => source.GoneAfterFailureAsync(TimeSpan.FromSeconds(5))).RunAsync("weather?", steps.Add);
        Assert.Equal(new AgentResult("It is sunny.", 1, null), result);
        Assert.Equal(["sunny in Paris"], model.ToolResults);
    }

    [Fact]
    public async Task A_server_that_dies_mid_call_ends_the_loop_with_the_reason()
    {
        Link? link = null;
        link = new Link(WeatherServer(_ =>
        {
            link!.Kill();
            Thread.Sleep(100);
            return "never delivered";
        }));
        await using (link)
        {
            await using var source = await McpToolSource.ConnectAsync(link.Start(), "test-server");
            var model = new ScriptedChatClient(CallTool("weather", ("city", "Paris")), new Text("should not be asked"));
            var result = await new AgentLoop(model, source.Tools, new AgentOptions { ToolTimeout = TimeSpan.FromSeconds(20) },
                sourceGone: f => source.GoneAfterFailureAsync(TimeSpan.FromSeconds(5))).RunAsync("weather?");
            Assert.NotNull(result.StoppedBy);
            Assert.StartsWith("MCP server 'test-server' stopped during a call to weather", result.StoppedBy);
            Assert.Single(model.Requests); // the model is not called again after the server died
        }
    }
    [Fact]
    public async Task A_server_that_never_lists_its_tools_is_an_error_not_a_hang()
    {
        // Answers the handshake, then ignores tools/list (a few lines of bash, not the SDK).
        const string silent = """
            while IFS= read -r line; do
              id=$(printf '%s' "$line" | sed -n 's/.*"id":\("[^"]*"\|[0-9]*\).*/\1/p')
              case "$line" in
                *'"initialize"'*) echo '{"jsonrpc":"2.0","id":'"$id"',"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"silent","version":"1"}}}' ;;
              esac
            done
            """;
        var script = Path.Combine(Path.GetTempPath(), $"silent-mcp-{Guid.NewGuid():N}.sh");
        File.WriteAllText(script, silent);
        var saved = McpToolSource.ListToolsTimeout;
        McpToolSource.ListToolsTimeout = TimeSpan.FromSeconds(1);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<IOException>(() => McpToolSource.ConnectAsync($"bash {script}"));
            Assert.Contains("did not list its tools within 1 s", error.Message);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        }
        finally
        {
            McpToolSource.ListToolsTimeout = saved;
            File.Delete(script);
        }
    }
}
