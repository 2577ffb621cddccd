using System.ComponentModel;
using Microsoft.Extensions.AI;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Substrate.Agents.Tools;

namespace Substrate.Agents.Mcp;

/// <summary>
/// Substrate's capabilities as an MCP server (<c>substrate mcp</c>): <c>generate</c> (a chat reply from the model),
/// <c>embed</c> (the text's embedding, a unit vector) and, given a chunk store, <c>search</c>. Served over any MCP
/// transport — stdio for the command, a stream pair in tests — by the MCP SDK's own server.
/// </summary>
public static class SubstrateMcpServer
{
    public static McpServerOptions Options(IChatClient chat, IEmbeddingGenerator<string, Embedding<float>> embed, string? modelId = null,
        StoreSearch? search = null) => new()
    {
        ServerInfo = new Implementation { Name = "substrate", Version = typeof(SubstrateMcpServer).Assembly.GetName().Version?.ToString() ?? "0" },
        ToolCollection = [.. Tools(chat, embed, modelId), .. search is null ? [] : new[] { SearchTool(search) }],
    };

    /// <summary>The agent's own <c>search</c> tool (<see cref="BuiltInTools.SearchMethod"/>), its text result as is.</summary>
    public static McpServerTool SearchTool(StoreSearch search) => McpServerTool.Create(BuiltInTools.SearchMethod(search),
        new McpServerToolCreateOptions { Name = "search", Description = BuiltInTools.SearchDescription, ReadOnly = true });

    public static IEnumerable<McpServerTool> Tools(IChatClient chat, IEmbeddingGenerator<string, Embedding<float>> embed, string? modelId)
    {
        yield return McpServerTool.Create(async (
            [Description("The user's message")] string prompt,
            [Description("Tokens to generate at most")] int max_tokens = 128,
            [Description("Sampling temperature; 0 is greedy")] float temperature = 0,
            CancellationToken cancellationToken = default) =>
        {
            if (max_tokens < 1) throw new ArgumentException("max_tokens must be ≥ 1");
            var options = new ChatOptions { MaxOutputTokens = max_tokens, Temperature = temperature, ModelId = modelId };
            return (await chat.GetResponseAsync(prompt, options, cancellationToken)).Text;
        }, new McpServerToolCreateOptions { Name = "generate", Description = "Generates the model's reply to a message.", ReadOnly = true });
        yield return McpServerTool.Create(async ([Description("The text to embed")] string text, CancellationToken cancellationToken = default) =>
            (await embed.GenerateAsync([text], cancellationToken: cancellationToken))[0].Vector.ToArray(),
            new McpServerToolCreateOptions
            {
                Name = "embed", Description = "Returns the text's embedding: the model's mean final hidden state, L2-normalised.", ReadOnly = true,
            });
    }

    /// <summary>Serves until the client disconnects or <paramref name="cancellationToken"/> fires.</summary>
    public static async Task RunAsync(ITransport transport, McpServerOptions options, CancellationToken cancellationToken = default)
    {
        await using var server = McpServer.Create(transport, options);
        await server.RunAsync(cancellationToken);
    }
}
