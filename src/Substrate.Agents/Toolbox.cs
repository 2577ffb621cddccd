using Microsoft.Extensions.AI;
using Substrate.Agents.Mcp;
using Substrate.Agents.Memory;
using Substrate.Agents.Tools;
using Substrate.Retrieval.Store;

namespace Substrate.Agents;

/// <summary>
/// The tools an agent gets from <c>--tools</c> specs: <c>calc</c>, <c>time</c>, <c>files:&lt;dir&gt;</c>, <c>lookup:&lt;table.tsv&gt;</c>,
/// <c>search:&lt;store.db&gt;</c>, <c>memory</c>, <c>mcp:&lt;command line&gt;</c> or <c>mcp:http://…</c>. Specs come comma-separated or one
/// per flag; an <c>mcp:</c> spec takes the rest of its string, commas included. Owns the MCP connections and the opened
/// stores (dispose to close them).
/// </summary>
public sealed class Toolbox : IAsyncDisposable
{
    readonly List<McpToolSource> servers = [];
    readonly List<StoreSearch> stores = [];

    public List<AITool> Tools { get; } = [];

    /// <summary>With the <c>memory</c> tool: recall of its facts before each goal (for <see cref="AgentOptions.ContextProviders"/>).</summary>
    public MemoryRecall? Recall { get; private set; }

    /// <summary>Which server a tool came from, gone or not: the hook <see cref="AgentLoop"/> ends the run with.</summary>
    public async ValueTask<string?> SourceGoneAsync(AIFunction function) =>
        servers.FirstOrDefault(s => s.Tools.Contains(function)) is { } server ? await server.GoneAfterFailureAsync(TimeSpan.FromSeconds(1)) : null;

    /// <summary>Opens the tools of <paramref name="specs"/>; <paramref name="storeEmbedder"/> gives a <c>search:</c> store's
    /// embedder (the one its vectors were made with), and without it a store is searched by words only;
    /// <paramref name="memory"/> opens the long-term memory the <c>memory</c> tool writes (called only when it is asked for).</summary>
    public static async Task<Toolbox> OpenAsync(IEnumerable<string> specs, TimeProvider? clock = null, CancellationToken cancellationToken = default,
        Func<ChunkStore, IEmbeddingGenerator<string, Embedding<float>>?>? storeEmbedder = null, Func<FactMemory>? memory = null)
    {
        var toolbox = new Toolbox();
        try
        {
            foreach (var spec in specs.SelectMany(Split))
                await toolbox.AddAsync(spec, clock, storeEmbedder, memory, cancellationToken);
        }
        catch
        {
            await toolbox.DisposeAsync();
            throw;
        }
        var repeated = toolbox.Tools.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
        {
            await toolbox.DisposeAsync();
            throw new ArgumentException($"two tools are named '{repeated.Key}'");
        }
        return toolbox;
    }

    /// <summary>"calc,time,mcp:srv --a,b" → calc, time, "mcp:srv --a,b".</summary>
    public static IEnumerable<string> Split(string specs)
    {
        var rest = specs.Trim();
        while (rest.Length > 0)
        {
            if (rest.StartsWith("mcp:", StringComparison.Ordinal)) { yield return rest; yield break; }
            var comma = rest.IndexOf(',');
            var spec = (comma < 0 ? rest : rest[..comma]).Trim();
            if (spec.Length > 0) yield return spec;
            rest = comma < 0 ? "" : rest[(comma + 1)..].Trim();
        }
    }

    async Task AddAsync(string spec, TimeProvider? clock, Func<ChunkStore, IEmbeddingGenerator<string, Embedding<float>>?>? storeEmbedder,
        Func<FactMemory>? memory, CancellationToken cancellationToken)
    {
        var colon = spec.IndexOf(':');
        var (kind, argument) = colon < 0 ? (spec, "") : (spec[..colon], spec[(colon + 1)..]);
        switch (kind)
        {
            case "calc" or "calculator" when colon < 0:
                Tools.Add(BuiltInTools.Calculator());
                break;
            case "time" when colon < 0:
                Tools.Add(BuiltInTools.Clock(clock));
                break;
            case "files" when argument.Length > 0:
                Tools.AddRange(BuiltInTools.Folder(new FolderTools(argument)));
                break;
            case "lookup" when argument.Length > 0:
                Tools.Add(BuiltInTools.Lookup(LookupTable.Load(argument)));
                break;
            case "search" when argument.Length > 0:
                var store = StoreSearch.Open(argument, storeEmbedder);
                stores.Add(store);
                Tools.Add(BuiltInTools.Search(store));
                break;
            case "memory" when colon < 0:
                var facts = memory?.Invoke() ?? throw new ArgumentException("the memory tool needs a memory store (none was given)");
                Tools.Add(facts.RememberTool());
                Recall = new MemoryRecall(facts);
                break;
            case "mcp" when argument.Length > 0:
                var server = await McpToolSource.ConnectAsync(argument, cancellationToken);
                servers.Add(server);
                Tools.AddRange(server.Tools);
                break;
            default:
                throw new ArgumentException($"unknown tool '{spec}': use calc, time, files:<dir>, lookup:<table.tsv>, search:<store.db>, memory, "
                    + "mcp:<command line> or mcp:http://…");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in servers) await server.DisposeAsync();
        servers.Clear();
        foreach (var store in stores) store.Dispose();
        stores.Clear();
    }
}
