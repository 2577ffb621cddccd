using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Spectre.Console;
using Substrate.Evaluation;
using Substrate.IO;
using Substrate.Recipes;
using Substrate.Retrieval.Store;
using Substrate.Training;
using Substrate.Training.Finetuning;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate adapt compare</c>: the adaptation report — zero-shot, few-shot, retrieval, LoRA and full fine-tuning side by side.</summary>
public static class AdaptVerb
{
    static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }; // "rag+few-shot", not \u002B
    public static Command Build() => new("adapt", "Compare ways of adapting a base model.") { BuildCompare() };

    static Command BuildCompare()
    {
        var model = new Option<string>("--model") { Description = "The base model folder.", Required = true };
        var task = new Option<string>("--task") { Description = "A task file or name from data/tasks (source, cloze, define, gloss).", Required = true };
        var work = new Option<string>("--out")
        {
            Description = "Working folder for the fine-tuned adapter and model.",
            DefaultValueFactory = _ => "adapt-compare",
        };
        var shots = new Option<int>("--shots") { Description = "Examples in the few-shot prompt.", DefaultValueFactory = _ => 3 };
        var steps = new Option<int>("--max-steps") { Description = "Fine-tuning steps for LoRA and full.", DefaultValueFactory = _ => 40 };
        var set = new Option<string[]>("--set")
        {
            Description = "key=value fine-tuning overrides for both methods (batch_size, seq_len, lora_r, …).",
            AllowMultipleArgumentsPerToken = true,
        };
        var rag = new Option<string>("--rag")
        {
            Description = "Retrieval arm: bm25 (default), hybrid or vector (MiniLM embeddings of every chunk), or off.",
            DefaultValueFactory = _ => "bm25",
        };
        var knowledge = new Option<string[]>("--knowledge")
        {
            Description = "Files or folders the retrieval arm indexes (default: the bundled corpus's validation split, which the tasks come from).",
            AllowMultipleArgumentsPerToken = true,
        };
        var ragTop = new Option<int>("--rag-top") { Description = "Passages put before each query.", DefaultValueFactory = _ => 2 };
        var ragChunk = new Option<int>("--rag-chunk-tokens")
            { Description = "WordPiece tokens a knowledge chunk holds at most.", DefaultValueFactory = _ => 64 };
        var runtime = new ModelOptionFlags();
        var command = new Command(
            "compare",
            "Run one task through zero-shot, few-shot, retrieval, LoRA and full fine-tuning from the same base; a table on stderr, JSON on stdout.")
        {
            model, task, work, shots, steps, set, rag, knowledge, ragTop, ragChunk,
        };
        runtime.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var evalTask = EvalTask.Load(parsed.GetValue(task)!);
            var overrides = parsed.GetValue(set) ?? [];
            var common = new FinetuneConfig
            {
                MaxSteps = parsed.GetValue(steps), SeqLen = 128, EvalEvery = 0, CheckpointEvery = 0, Patience = 0, Dtype = ComputePrecision.Float32,
            };
            var lora = ConfigResolver.Apply(common with { Lr = 1e-2, TargetModules = "all-linear", LoraDropout = 0 }, overrides); // --set wins
            var full = ConfigResolver.Apply(common with { Lr = 3e-4 }, overrides);
            var retrieval = Retrieval(parsed.GetValue(rag)!, parsed.GetValue(knowledge), parsed.GetValue(ragTop), parsed.GetValue(ragChunk));
            var modelOptions = runtime.StartTraining(parsed);
            var rows = Terminal.WithProgress("adapt compare", report => AdaptationComparison.Run(parsed.GetValue(model)!, evalTask, parsed.GetValue(work)!,
                parsed.GetValue(shots), lora, full, modelOptions, parsed.GetValue(runtime.Threads),
                log: stage => report(stage, null),
                trainProgress: new InlineProgress<TrainProgress>(p =>
                {
                    if (p.Event == TrainEvent.Step) report($"step {p.Step}/{p.MaxSteps} loss {p.Loss:F3}", null);
                }),
                retrieval: retrieval));
            Report(evalTask.Name, rows);
            return 0;
        });
        return command;
    }

    /// <summary>The retrieval arm's options from the flags; null when it is off.</summary>
    static RetrievalArmOptions? Retrieval(string mode, string[]? knowledge, int top, int chunkTokens)
    {
        SearchMode? search = mode.ToLowerInvariant() switch
        {
            "off" => null,
            "bm25" => SearchMode.Bm25,
            "hybrid" => SearchMode.Hybrid,
            "vector" => SearchMode.Vector,
            _ => throw new ArgumentException($"--rag must be bm25, hybrid, vector or off, got '{mode}'"),
        };
        if (search is null) return null;
        var sources = knowledge is { Length: > 0 } ? knowledge : [Path.Combine(BundledCorpus.Find(), BundledCorpus.ValidationFile)];
        return new RetrievalArmOptions { Sources = sources, Mode = search.Value, Top = top, ChunkTokens = chunkTokens, Overlap = Math.Min(8, chunkTokens / 4) }
            .Validate();
    }

    /// <summary>The table on stderr (what each row scores, what adapting cost, what a query costs) and one JSON line on stdout.</summary>
    static void Report(string taskName, List<AdaptationRow> rows)
    {
        var table = new Table()
            .AddColumns("method", "score", "trainable params", "train time", "train tokens", "artifact size", "prompt tokens/query", "ms/query")
            .Title(Markup.Escape($"{taskName}: {rows[0].Metric}"));
        foreach (var r in rows)
            table.AddRow(r.Method + (r.Shots > 0 ? $" (k={r.Shots})" : ""), $"{r.Score:P1}", r.TrainableParameters.ToString("N0"),
                r.TrainSeconds > 0 ? $"{r.TrainSeconds:F1}s" : "-", r.TrainTokens > 0 ? r.TrainTokens.ToString("N0") : "-",
                r.ArtifactBytes > 0 ? $"{r.ArtifactBytes / 1024.0:N0} KiB" : "-", $"{r.PromptTokens:F1}", $"{r.QueryMilliseconds:F1}");
        Terminal.Err.Write(table);
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            task = taskName, metric = rows[0].Metric,
            results = rows.Select(r => new
            {
                method = r.Method, shots = r.Shots, score = r.Score, trainable_parameters = r.TrainableParameters,
                train_seconds = Math.Round(r.TrainSeconds, 2), train_tokens = r.TrainTokens, artifact_bytes = r.ArtifactBytes,
                prompt_tokens = Math.Round(r.PromptTokens, 1), query_ms = Math.Round(r.QueryMilliseconds, 2),
            }),
        }, Json));
    }
}
