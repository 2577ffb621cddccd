using System.CommandLine;
using ModelContextProtocol.Server;
using Substrate.Agents.Mcp;
using Substrate.Agents.Tools;
using Substrate.Inference.DotNetAI;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate mcp</c>: a model's capabilities (tools generate and embed, and search with <c>--store</c>) as an
/// MCP server over stdio, for any
/// MCP client (an IDE, an agent, <c>substrate agent --tools mcp:…</c>). stdout carries only the protocol.</summary>
public static class McpVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model") { Description = "A model folder.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var storeFile = new Option<string?>("--store") { Description = "A chunk store (substrate rag index) to serve a search tool over, read-only." };
        var runtime = new ModelOptionFlags();
        var command = new Command("mcp", "Serve a model as an MCP server over stdio (tools: generate, embed; search with --store).")
            { model, adapter, storeFile };
        runtime.AddTo(command);
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            using var search = parsed.GetValue(storeFile) is { } path ? StoreSearch.Open(path, store => RagEmbedder.ForStore(store, null)) : null;
            var folder = parsed.GetValue(model)!;
            var (engine, modelId) = InProcessModel.Load(folder, parsed.GetValue(adapter), runtime.StartInference(parsed, folder));
            using (engine)
            {
                var options = SubstrateMcpServer.Options(new SubstrateChatClient(engine), new SubstrateEmbeddingGenerator(engine), modelId, search);
                Console.Error.WriteLine($"MCP server on stdio: tools generate, embed{(search is null ? "" : ", search")} over {engine.BaseModel}" +
                    (modelId is null ? "" : " + adapter"));
                await SubstrateMcpServer.RunAsync(new StdioServerTransport(options), options, cancellation);
            }
            return 0;
        });
        return command;
    }
}
