using System.CommandLine;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Interop.Gguf;
using Substrate.Server;
using Substrate.Server.Wire;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate serve</c>: the OpenAI-compatible HTTP API over one model folder (and its LoRA adapters, each served
/// as "model:adapter"), continuous batching across requests. Runs until Ctrl-C.
/// </summary>
public static class ServeVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model")
        {
            Description = "A model folder, or a .gguf file (run quantized in place on the CPU decoder; no adapters, no embeddings).", Required = true,
        };
        var adapters = new Option<string[]>("--adapter") { Description = "A LoRA adapter as name=<dir> (repeatable); served as <model>:<name>." };
        var urls = new Option<string[]>("--urls") { Description = "Where to listen.", DefaultValueFactory = _ => ["http://127.0.0.1:8080"] };
        var apiKeys = new Option<string[]>("--api-key")
        {
            Description = "Require 'Authorization: Bearer <key>' on every endpoint but /health and /metrics (repeatable; default from SUBSTRATE_API_KEY).",
        };
        var keysFile = new Option<string?>("--api-keys-file")
        {
            Description = "A file of API keys, one a line (blank lines and # comments skipped); adds to --api-key.",
        };
        var dataDir = new Option<string?>("--data-dir")
        {
            Description = "Where uploaded files and vector stores are kept (default: ~/.local/share/substrate/server).",
        };
        var name = new Option<string?>("--model-name") { Description = "The base model's id in the API (default: the folder's name)." };
        var maxBatch = new Option<int>("--max-batch") { Description = "Sequences decoded together (KV-cache slots).", DefaultValueFactory = _ => 16 };
        var context = new Option<int?>("--context")
        {
            Description = "Tokens a request may hold, prompt and output "
                + $"(default: max_position_embeddings, at most {BatchSchedulerOptions.DefaultContextLength}).",
        };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a slot; more get 429.", DefaultValueFactory = _ => 64 };
        var maxBody = new Option<long>("--max-request-bytes")
        {
            Description = "Largest request body (413 beyond).",
            DefaultValueFactory = _ => 4 * 1024 * 1024,
        };
        var runtime = new ModelOptionFlags();
        var command = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (chat, completions, embeddings, models, health, metrics).")
            { model, adapters, urls, apiKeys, keysFile, dataDir, name, maxBatch, context, queue, maxBody };
        runtime.AddTo(command);
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            var folder = parsed.GetValue(model)!;
            var adapterDirs = (parsed.GetValue(adapters) ?? []).Select(ParseAdapter).ToList();
            if (adapterDirs.Select(a => a.Name).Distinct().Count() != adapterDirs.Count) throw new ArgumentException("--adapter names must be distinct");
            if (parsed.GetValue(maxBatch) < 1 || parsed.GetValue(queue) < 1) throw new ArgumentException("--max-batch and --queue must be ≥ 1");
            string[] keys = [.. parsed.GetValue(apiKeys) is { Length: > 0 } k ? k
                : Environment.GetEnvironmentVariable("SUBSTRATE_API_KEY") is { Length: > 0 } env ? [env] : [],
                .. parsed.GetValue(keysFile) is { } file ? ReadKeys(file) : []];
            var baseName = parsed.GetValue(name) ?? Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'));
            var modelOptions = runtime.StartInference(parsed, folder);
            var scheduling = new BatchSchedulerOptions
            {
                MaxBatch = parsed.GetValue(maxBatch), QueueCapacity = parsed.GetValue(queue), ContextLength = parsed.GetValue(context),
            };
            using var engine = Open(folder, baseName, modelOptions, adapterDirs, scheduling);
            await using var server = SubstrateServer.Create(engine, new ServerOptions
            {
                Urls = parsed.GetValue(urls)!, ApiKeys = keys, MaxRequestBytes = parsed.GetValue(maxBody),
                DataDir = parsed.GetValue(dataDir) ?? new ServerOptions().DataDir,
            });
            await server.StartAsync(cancellation);
            Console.Error.WriteLine($"serving {string.Join(", ", engine.Models)} on {string.Join(", ", server.Urls)}" +
                (keys.Length > 0 ? " (API key required)" : "") + "; Ctrl-C to stop");
            Console.Error.WriteLine($"context: {engine.Context} tokens a request, {parsed.GetValue(maxBatch)} slots");
            Console.Error.WriteLine(SamplingParameters.DescribeDefaults(engine.GenerationDefaults));
            Console.Error.WriteLine(runtime.Describe(parsed, modelOptions));
            await server.WaitForShutdownAsync(cancellation);
            Console.Error.WriteLine("stopping");
            return 0;
        });
        return command;
    }

    /// <summary>A model folder through TorchSharp, or a .gguf file on the CPU decoder (one batched pass over its blocks a step).</summary>
    static InferenceEngine Open(string path, string baseName, Substrate.Models.ModelOptions modelOptions,
        List<(string Name, string Dir)> adapters, BatchSchedulerOptions scheduling)
    {
        if (!path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return InferenceEngine.Load(path, baseName, modelOptions, adapters, scheduling);
        if (adapters.Count > 0) throw new ArgumentException("--adapter needs a model folder, not a .gguf file (import it: substrate import gguf)");
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}");
        return GgufInferenceEngine.Open(path, baseName, scheduling);
    }

    /// <summary>The keys of an --api-keys-file: one a line, trimmed; blank lines and lines starting with # skipped.</summary>
    static string[] ReadKeys(string path)
    {
        var keys = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        return keys.Length > 0 ? keys : throw new ArgumentException($"--api-keys-file {path} holds no keys");
    }

    static (string Name, string Dir) ParseAdapter(string value)
    {
        var at = value.IndexOf('=');
        if (at <= 0 || at == value.Length - 1) throw new ArgumentException($"--adapter must be name=<dir> (got '{value}')");
        var (name, dir) = (value[..at], value[(at + 1)..]);
        if (name.Contains(':')) throw new ArgumentException($"--adapter name '{name}' must not contain ':'");
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"adapter folder not found: {dir}");
        return (name, dir);
    }
}
