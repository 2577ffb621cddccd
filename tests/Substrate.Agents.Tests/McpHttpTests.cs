using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;
using Substrate.Agents.Mcp;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

/// <summary><c>mcp:http://…</c>: the agent uses the tools of an MCP server over HTTP (the SDK's ASP.NET Core server on
/// 127.0.0.1).</summary>
public class McpHttpTests
{
    [Fact]
    public async Task The_agent_calls_a_tool_of_an_http_mcp_server()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddMcpServer().WithHttpTransport()
            .WithTools([McpServerTool.Create((string word) => word.ToUpperInvariant(), new() { Name = "shout", Description = "Upper-cases a word." })]);
        await using var app = builder.Build();
        app.MapMcp("/mcp");
        await app.StartAsync();

        await using var toolbox = await Toolbox.OpenAsync([$"calc,mcp:{app.Urls.First()}/mcp"]);
        Assert.Equal(["calculator", "shout"], toolbox.Tools.Select(t => t.Name));
        var model = new ScriptedChatClient(CallTool("shout", ("word", "hello")), new Text("HELLO it is."));
        var result = await new AgentLoop(model, toolbox.Tools, sourceGone: toolbox.SourceGoneAsync).RunAsync("shout hello");
        Assert.Equal(new AgentResult("HELLO it is.", 1, null), result);
        Assert.Equal(["HELLO"], model.ToolResults);
        await app.StopAsync();
    }
}
