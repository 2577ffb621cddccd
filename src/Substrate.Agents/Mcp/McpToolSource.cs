using ModelContextProtocol.Client;

namespace Substrate.Agents.Mcp;

/// <summary>
/// The tools of one MCP server, as the agent's <see cref="Microsoft.Extensions.AI.AIFunction"/>s (each
/// <see cref="McpClientTool"/> is one). The server is a command line started over stdio (<c>mcp:&lt;command line&gt;</c>)
/// or an HTTP endpoint (<c>mcp:http://…</c>, streamable HTTP or SSE). <see cref="Gone"/> says whether the server's
/// session has ended (its process died, its connection closed), so a failed call can end the loop with that reason.
/// </summary>
public sealed class McpToolSource : IAsyncDisposable
{
    readonly McpClient client;

    McpToolSource(string name, McpClient client, IList<McpClientTool> tools)
    {
        Name = name;
        this.client = client;
        Tools = [.. tools];
    }

    public string Name { get; }

    public IReadOnlyList<McpClientTool> Tools { get; }

    /// <summary>Null while the server is up; else a sentence saying it stopped.</summary>
    public string? Gone => client.Completion.IsCompleted ? $"MCP server '{Name}' stopped" + ExitDetails() : null;

    /// <summary><see cref="Gone"/> after a failed call: a call can fail a moment before the session notices that its
    /// server is gone, so this waits up to <paramref name="grace"/> for the session to end.</summary>
    public async ValueTask<string?> GoneAfterFailureAsync(TimeSpan grace)
    {
        try { await client.Completion.WaitAsync(grace); }
        catch (TimeoutException) { }
        catch (Exception) when (client.Completion.IsCompleted) { }
        return Gone;
    }

    string ExitDetails() => client.Completion.IsCompletedSuccessfully && client.Completion.Result is StdioClientCompletionDetails { ExitCode: { } code }
        ? $" (exit code {code})" : "";

    /// <summary>Connects to the server a spec names (the part after <c>mcp:</c>) and lists its tools.</summary>
    public static async Task<McpToolSource> ConnectAsync(string spec, CancellationToken cancellationToken = default)
    {
        IClientTransport transport;
        if (Uri.TryCreate(spec, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = uri, Name = uri.Authority });
        else
        {
            var words = CommandWords.Split(spec);
            if (words.Count == 0) throw new ArgumentException("mcp: needs a command line or an http(s) URL");
            transport = new StdioClientTransport(new StdioClientTransportOptions
            {
                Command = words[0], Arguments = [.. words.Skip(1)], Name = Path.GetFileName(words[0]),
            });
        }
        return await ConnectAsync(transport, cancellationToken);
    }

    /// <summary>Connects over any MCP transport (tests use in-process streams).</summary>
    public static async Task<McpToolSource> ConnectAsync(IClientTransport transport, CancellationToken cancellationToken = default) =>
        await ConnectAsync(transport, transport.Name, cancellationToken);

    /// <summary>Connects over any MCP transport; <paramref name="name"/> is how errors name the server.</summary>
    public static async Task<McpToolSource> ConnectAsync(IClientTransport transport, string name, CancellationToken cancellationToken = default)
    {
        McpClient client;
        try { client = await McpClient.CreateAsync(transport, cancellationToken: cancellationToken); }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"MCP server '{name}' could not be started or reached: {e.Message}", e);
        }
        using var listing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        listing.CancelAfter(ListToolsTimeout); // a server that answers the handshake but never lists its tools must not hang the agent
        try
        {
            var tools = await client.ListToolsAsync(cancellationToken: listing.Token);
            return new McpToolSource(name, client, tools);
        }
        catch (Exception e)
        {
            await client.DisposeAsync();
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                throw new IOException($"MCP server '{name}' did not list its tools within {ListToolsTimeout.TotalSeconds:0} s", e);
            if (e is OperationCanceledException) throw;
            throw new IOException($"MCP server '{name}' could not list its tools: {e.Message}", e);
        }
    }

    /// <summary>How long a connected server may take to list its tools.</summary>
    public static TimeSpan ListToolsTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public ValueTask DisposeAsync() => client.DisposeAsync();
}
