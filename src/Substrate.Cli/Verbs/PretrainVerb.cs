using System.CommandLine;
using Spectre.Console;
using Substrate.Training;
using Substrate.Training.Distributed;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate pretrain</c>: next-token prediction on prepared token shards.</summary>
public static class PretrainVerb
{
    public static Command Build()
    {
        var config = new Option<string>("--config")
        {
            Description = "A preset (tiny, small, base, bench-12m) or a config.json file.",
            DefaultValueFactory = _ => "tiny",
        };
        var data = new Option<string>("--data") { Description = "A folder written by 'substrate data prepare'.", Required = true };
        var output = new Option<string>("--out")
        {
            Description = "The run folder: the model (a Hugging Face folder), checkpoint, metrics.jsonl, loss.png.",
            Required = true,
        };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Optimizer steps (the schedule's length)." };
        var timeLimit = new Option<string?>("--time-limit") { Description = "Stop cleanly with a checkpoint after this long (90s, 10m, 1h)." };
        var set = new Option<string[]>("--set")
        {
            Description = "key=value overrides of model or training keys (hidden_size=256, lr=3e-4, batch_size=8, dtype=float32, …).",
            AllowMultipleArgumentsPerToken = true,
        };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:1.", DefaultValueFactory = _ => "cpu" };
        var threads = ModelOptionFlags.ThreadsOption();
        var shardOptimizer = TrainingFlags.ShardOptimizer();
        var command = new Command("pretrain", "Pretrain a Llama-style model with next-token prediction.")
        {
            config, data, output, resume, maxSteps, timeLimit, set, device, threads, shardOptimizer,
        };
        command.SetAction((ParseResult parsed, CancellationToken cancellation) =>
        {
            var options = new PretrainOptions
            {
                Config = parsed.GetValue(config)!, DataDirectory = parsed.GetValue(data)!, OutputDirectory = parsed.GetValue(output)!,
                Resume = parsed.GetValue(resume), MaxSteps = parsed.GetValue(maxSteps),
                TimeLimit = parsed.GetValue(timeLimit) is string limit ? Durations.Parse(limit) : null,
                Overrides = parsed.GetValue(set) ?? [], Device = parsed.GetValue(device)!, Threads = parsed.GetValue(threads),
                ShardOptimizer = parsed.GetValue(shardOptimizer),
            };
            Run(options, cancellation);
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>Prints the resolved config, trains under a live progress line, prints the outcome (under mpirun: rank 0 prints).</summary>
    static PretrainResult Run(PretrainOptions options, CancellationToken cancellation)
    {
        if (!Directory.Exists(options.DataDirectory))
            throw new DirectoryNotFoundException($"data folder not found: {options.DataDirectory} (run 'substrate data prepare' first)");
        var resolved = Pretrainer.ResolveConfig(options);
        if (!World.Current.IsRoot) return Pretrainer.Run(options, null, cancellation);
        Terminal.Err.Write(new Panel(new Text(resolved.ToJson())).Header("config").Collapse());
        var result = Terminal.WithProgress("pretrain", report =>
            Pretrainer.Run(options, TrainProgress.Reporter(line => Terminal.Info(Markup.Escape($"pretrain: {line}")), report), cancellation));
        Terminal.Info(Markup.Escape($"pretrain: {result.Summary}"));
        return result;
    }
}
