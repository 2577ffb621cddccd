using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Substrate.IO;
using Substrate.Training;
using Substrate.Training.Alignment;
using Substrate.Training.Distributed;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate align dpo</c>: preference alignment with direct preference optimization.</summary>
public static class AlignVerb
{
    public static Command Build() => new("align", "Align a model with human preferences.") { BuildDpo() };

    static Command BuildDpo()
    {
        var model = new Option<string>("--model") { Description = "The model folder to align (e.g. an instruction-tuned, merged model).", Required = true };
        var data = new Option<string>("--data") { Description = "JSONL (.gz allowed) of {\"prompt\",\"chosen\",\"rejected\"}.", Required = true };
        var output = new Option<string>("--out")
        {
            Description = "The run folder: the adapter (lora) or model (full), checkpoint/, metrics.jsonl, loss.png.",
            Required = true,
        };
        var method = new Option<string>("--method")
        {
            Description = "lora (reference = the adapter switched off) or full (reference = a frozen copy).",
            DefaultValueFactory = _ => "lora",
        };
        var beta = new Option<double>("--beta") { Description = "β, the strength of the anchor to the reference.", DefaultValueFactory = _ => 0.1 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank.", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { Description = "LoRA alpha.", DefaultValueFactory = _ => 16 };
        var targets = new Option<string>("--targets")
        {
            Description = "LoRA target modules (q_proj,v_proj or all-linear).",
            DefaultValueFactory = _ => "q_proj,v_proj",
        };
        var batch = new Option<int>("--batch-size") { Description = "Pairs per step.", DefaultValueFactory = _ => 4 };
        var steps = new Option<int>("--max-steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 100 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 5e-4 };
        var maxLength = new Option<int>("--max-length") { Description = "Longest prompt + response in tokens.", DefaultValueFactory = _ => 256 };
        var dtype = new Option<ComputePrecision>("--dtype")
        {
            Description = "float32 or bfloat16 compute.", DefaultValueFactory = _ => ComputePrecision.Float32,
        };
        var set = new Option<string[]>("--set")
        {
            Description = "key=value overrides of the run's keys (beta1, beta2, eps, weight_decay, warmup_steps, attention, …).",
            AllowMultipleArgumentsPerToken = true,
        };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:1.", DefaultValueFactory = _ => "cpu" };
        var threads = ModelOptionFlags.ThreadsOption();
        var shardOptimizer = TrainingFlags.ShardOptimizer();
        var checkpointEvery = new Option<int>("--checkpoint-every")
        {
            Description = "A checkpoint every N steps (and at the end); 0: only at the end.",
            DefaultValueFactory = _ => 50,
        };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint (repeat the run's settings)." };
        var timeLimit = new Option<string?>("--time-limit") { Description = "Stop cleanly with a checkpoint after this long (90s, 10m)." };
        var dpo = new Command("dpo", "Direct preference optimization (sigmoid loss); reports reward accuracy and margins; prints one JSON line.")
        {
            model, data, output, method, beta, rank, alpha, targets, batch, steps, lr, maxLength, dtype, device, threads, checkpointEvery, resume, timeLimit,
            set, shardOptimizer,
        };
        dpo.SetAction((ParseResult parsed, CancellationToken cancellation) =>
        {
            var flags = new DpoOptions
            {
                ModelDirectory = parsed.GetValue(model)!, DataPath = parsed.GetValue(data)!, OutputDirectory = parsed.GetValue(output)!,
                Method = parsed.GetValue(method)!, Beta = parsed.GetValue(beta), LoraR = parsed.GetValue(rank), LoraAlpha = parsed.GetValue(alpha),
                TargetModules = parsed.GetValue(targets)!, BatchSize = parsed.GetValue(batch), MaxSteps = parsed.GetValue(steps), Lr = parsed.GetValue(lr),
                MaxLength = parsed.GetValue(maxLength), Dtype = parsed.GetValue(dtype), Device = parsed.GetValue(device)!, Threads = parsed.GetValue(threads),
                CheckpointEvery = parsed.GetValue(checkpointEvery), Resume = parsed.GetValue(resume), ShardOptimizer = parsed.GetValue(shardOptimizer),
                TimeLimit = parsed.GetValue(timeLimit) is string limit ? Durations.Parse(limit) : null,
            };
            return Task.FromResult(Run(ConfigResolver.Apply(flags, parsed.GetValue(set) ?? []), cancellation));
        });
        return dpo;
    }

    /// <summary>Prints the config of a fresh run, trains under a live progress line, prints the outcome and its JSON line.</summary>
    static int Run(DpoOptions options, CancellationToken cancellation)
    {
        if (!Directory.Exists(options.ModelDirectory)) throw new DirectoryNotFoundException($"model folder not found: {options.ModelDirectory}");
        if (!World.Current.IsRoot) { DpoTrainer.Run(options, null, cancellation); return 0; } // rank 0 prints (mpirun)
        if (!options.Resume) Terminal.Err.Write(new Panel(new Text(options.ToJson().TrimEnd())).Header("dpo config").Collapse());
        var result = Terminal.WithProgress("align dpo", report => DpoTrainer.Run(options, new InlineProgress<DpoProgress>(p =>
            report(
                $"step {p.Step}/{p.MaxSteps} loss {p.Loss:F3} reward acc {p.RewardAccuracy:P0} margin {p.RewardMargin:F3}",
                (double)p.Step / p.MaxSteps)), cancellation));
        Terminal.Info(Markup.Escape(
            $"align dpo: {result.StopReason} at step {result.Steps}, loss {result.Loss:F3}, "
            + $"reward accuracy {result.RewardAccuracy:P1}, margin {result.RewardMargin:F3} "
            + $"(chosen {result.ChosenReward:F3}, rejected {result.RejectedReward:F3}); "
            + $"{result.TrainableParameters:N0} trainable parameters; {result.TrainSeconds:F1}s → {result.OutputDirectory}"
            + (result.Ranks.Length > 0 ? $"; {result.Ranks}" : "")));
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            output = result.OutputDirectory, method = result.Method, steps = result.Steps, stop = result.StopReason,
            loss = result.Loss, reward_accuracy = result.RewardAccuracy,
            reward_margin = result.RewardMargin, chosen_reward = result.ChosenReward, rejected_reward = result.RejectedReward,
            trainable_parameters = result.TrainableParameters, train_seconds = Math.Round(result.TrainSeconds, 2),
        }));
        return 0;
    }
}
