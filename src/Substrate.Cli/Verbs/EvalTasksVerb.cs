using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Substrate.Evaluation;
using Substrate.IO;
using Substrate.Inference;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate eval tasks</c>: multiple-choice and generation tasks, lm-evaluation-harness style.</summary>
public static class EvalTasksVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model") { Description = "A model folder.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var tasks = new Option<string>("--tasks")
        {
            Description = "Task files or names from data/tasks (source, cloze, define), comma-separated.",
            Required = true,
        };
        var shots = new Option<int>("--shots") { Description = "Solved examples before each query (k-shot)." };
        var limit = new Option<int?>("--limit") { Description = "Evaluate at most this many items per task." };
        var seed = new Option<int>("--seed") { Description = "Seed of the few-shot example choice.", DefaultValueFactory = _ => 1234 };
        var runtime = new ModelOptionFlags();
        var command = new Command(
            "tasks",
            "Accuracy on multiple-choice tasks (log-likelihood of each choice: acc, acc_norm) and exact match on generation tasks; "
            + "prints one JSON line per task.")
        {
            model, adapter, tasks, shots, limit, seed,
        };
        runtime.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var taskList = parsed.GetValue(tasks)!
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => EvalTask.Load(t))
                .ToList();
            var folder = parsed.GetValue(model)!;
            using var loaded = LoadedModel.Load(folder, runtime.StartInference(parsed, folder), parsed.GetValue(adapter));
            var results = Run(loaded, taskList, parsed.GetValue(shots), parsed.GetValue(limit), parsed.GetValue(seed));
            foreach (var r in results) Console.Out.WriteLine(JsonSerializer.Serialize(Json(r)));
            return 0;
        });
        return command;
    }

    public static object Json(TaskResult r) => new
    {
        task = r.Task, kind = r.Kind, shots = r.Shots, items = r.Items,
        acc = r.Acc, acc_norm = r.AccNorm, exact_match = r.ExactMatch, seconds = Math.Round(r.Seconds, 2),
    };

    /// <summary>Evaluates every task under a progress line and prints a table on stderr. Shared with adapt compare.</summary>
    public static List<TaskResult> Run(LoadedModel loaded, IReadOnlyList<EvalTask> tasks, int shots, int? limit, int seed)
    {
        if (shots < 0) throw new ArgumentException($"--shots must be ≥ 0, got {shots}");
        var evaluator = new TaskEvaluator(loaded.Model, loaded.Tokenizer);
        var results = new List<TaskResult>();
        foreach (var task in tasks)
            results.Add(Terminal.WithProgress($"eval {task.Name}", report =>
                evaluator.Evaluate(task, shots, seed, limit,
                    new InlineProgress<(int Done, int Total)>(p => report($"{p.Done}/{p.Total}", (double)p.Done / p.Total)))));
        var table = new Table().AddColumns("task", "kind", "shots", "items", "acc", "acc_norm", "exact_match");
        foreach (var r in results)
            table.AddRow(r.Task, r.Kind, r.Shots.ToString(), r.Items.ToString(), Pct(r.Acc), Pct(r.AccNorm), Pct(r.ExactMatch));
        Terminal.Err.Write(table);
        return results;
    }

    static string Pct(double? v) => v is double x ? $"{x:P1}" : "-";
}
