using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Substrate.Evaluation;
using Substrate.IO;
using Substrate.Recipes;
using Substrate.Training;
using Substrate.Training.Finetuning;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate adapt compare</c>: the adaptation report — zero-shot, few-shot, LoRA and full fine-tuning side by side.</summary>
public static class AdaptVerb
{
    public static Command Build() => new("adapt", "Compare ways of adapting a base model.") { BuildCompare() };

    static Command BuildCompare()
    {
        var model = new Option<string>("--model") { Description = "The base model folder.", Required = true };
        var task = new Option<string>("--task") { Description = "A task file or name from data/tasks (source, cloze, define).", Required = true };
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
        var runtime = new ModelOptionFlags();
        var command = new Command(
            "compare",
            "Run one task through zero-shot, few-shot, LoRA and full fine-tuning from the same base; a table on stderr, JSON on stdout.")
        {
            model, task, work, shots, steps, set,
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
            var modelOptions = runtime.StartTraining(parsed);
            var rows = Terminal.WithProgress("adapt compare", report => AdaptationComparison.Run(parsed.GetValue(model)!, evalTask, parsed.GetValue(work)!,
                parsed.GetValue(shots), lora, full, modelOptions, parsed.GetValue(runtime.Threads),
                log: stage => report(stage, null),
                trainProgress: new InlineProgress<TrainProgress>(p =>
                {
                    if (p.Event == TrainEvent.Step) report($"step {p.Step}/{p.MaxSteps} loss {p.Loss:F3}", null);
                })));
            var table = new Table()
                .AddColumns("method", "score", "trainable params", "train time", "artifact size")
                .Title(Markup.Escape($"{evalTask.Name}: {rows[0].Metric}"));
            foreach (var r in rows)
                table.AddRow(r.Method + (r.Shots > 0 ? $" (k={r.Shots})" : ""), $"{r.Score:P1}", r.TrainableParameters.ToString("N0"),
                    r.TrainSeconds > 0 ? $"{r.TrainSeconds:F1}s" : "-", r.ArtifactBytes > 0 ? $"{r.ArtifactBytes / 1024.0:N0} KiB" : "-");
            Terminal.Err.Write(table);
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                task = evalTask.Name, metric = rows[0].Metric,
                results = rows.Select(r => new
                {
                    method = r.Method, shots = r.Shots, score = r.Score, trainable_parameters = r.TrainableParameters,
                    train_seconds = Math.Round(r.TrainSeconds, 2), artifact_bytes = r.ArtifactBytes,
                }),
            }));
            return 0;
        });
        return command;
    }
}
