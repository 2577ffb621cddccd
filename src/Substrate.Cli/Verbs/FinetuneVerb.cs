using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using Substrate.Training;
using Substrate.Training.Distributed;
using Substrate.Training.Finetuning;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate finetune</c>: supervised fine-tuning (LoRA or full) on prompt/completion or chat JSONL.</summary>
public static class FinetuneVerb
{
    public static Command Build()
    {
        var method = new Option<string>("--method")
        {
            Description = "lora (frozen base, a PEFT adapter) or full (every weight).",
            DefaultValueFactory = _ => "lora",
        };
        var model = new Option<string>("--model") { Description = "The base model folder.", Required = true };
        var data = new Option<string>("--data")
        {
            Description = "JSONL (.gz allowed): {\"prompt\",\"completion\"} or {\"messages\":[{\"role\",\"content\"}]} per line.",
            Required = true,
        };
        var validation = new Option<string?>("--validation") { Description = "Held-out JSONL (default: val_fraction of --data)." };
        var output = new Option<string>("--out")
        {
            Description = "The run folder: the adapter (PEFT) or model (HF), checkpoint/, metrics.jsonl, loss.png.",
            Required = true,
        };
        var rank = new Option<int?>("--rank") { Description = "LoRA rank r (default 8)." };
        var alpha = new Option<double?>("--alpha") { Description = "LoRA alpha (default 16; scale = alpha / r)." };
        var dropout = new Option<double?>("--dropout") { Description = "LoRA dropout (default 0.05)." };
        var targets = new Option<string?>("--targets") { Description = "LoRA target modules: q_proj,v_proj (default) … or all-linear." };
        var baseQuant = new Option<string?>("--base-quant")
        {
            Description = "QLoRA: keep the frozen base's projections as q4_K, q8_0 (ggml blocks) or nf4, dequantized per product (lora only).",
        };
        var checkpointing = new Option<bool>("--gradient-checkpointing")
        {
            Description = "Recompute each layer in backward instead of keeping its activations: less memory, one more forward a step.",
        };
        var epochs = new Option<double?>("--epochs") { Description = "Passes over the data (default 3)." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Optimizer steps (overrides --epochs)." };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default 2e-4)." };
        var set = new Option<string[]>("--set")
        {
            Description = "key=value overrides (batch_size, seq_len, patience, eval_every, pack, dtype, …).",
            AllowMultipleArgumentsPerToken = true,
        };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint." };
        var timeLimit = new Option<string?>("--time-limit") { Description = "Stop cleanly with a checkpoint after this long (90s, 10m)." };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:1.", DefaultValueFactory = _ => "cpu" };
        var threads = ModelOptionFlags.ThreadsOption();
        var shardOptimizer = TrainingFlags.ShardOptimizer();
        var command = new Command("finetune", "Fine-tune a model on instructions or chats; loss only on completion / assistant tokens.")
        {
            method, model, data, validation, output, rank, alpha, dropout, targets, baseQuant, checkpointing, epochs, maxSteps, lr, set, resume, timeLimit,
            device, threads, shardOptimizer,
        };
        command.SetAction((ParseResult parsed, CancellationToken cancellation) =>
        {
            // Flags → a typed record; --set, the edge's key=value text, applies last.
            var defaults = new FinetuneConfig();
            var flags = defaults with
            {
                Method = parsed.GetValue(method)!, LoraR = parsed.GetValue(rank) ?? defaults.LoraR, LoraAlpha = parsed.GetValue(alpha) ?? defaults.LoraAlpha,
                LoraDropout = parsed.GetValue(dropout) ?? defaults.LoraDropout, TargetModules = parsed.GetValue(targets) ?? defaults.TargetModules,
                Epochs = parsed.GetValue(epochs) ?? defaults.Epochs, MaxSteps = parsed.GetValue(maxSteps) ?? defaults.MaxSteps,
                Lr = parsed.GetValue(lr) ?? defaults.Lr, BaseQuant = parsed.GetValue(baseQuant), GradientCheckpointing = parsed.GetValue(checkpointing),
            };
            var options = new FinetuneOptions
            {
                ModelDirectory = parsed.GetValue(model)!, DataPath = parsed.GetValue(data)!, ValidationPath = parsed.GetValue(validation),
                OutputDirectory = parsed.GetValue(output)!, Config = ConfigResolver.Apply(flags, parsed.GetValue(set) ?? []),
                Overrides = parsed.GetValue(set) ?? [],
                Resume = parsed.GetValue(resume),
                TimeLimit = parsed.GetValue(timeLimit) is string limit ? Durations.Parse(limit) : null,
                Device = parsed.GetValue(device)!, Threads = parsed.GetValue(threads), ShardOptimizer = parsed.GetValue(shardOptimizer),
            };
            if (!World.Current.IsRoot) { Finetuner.Run(options, null, cancellation); return Task.FromResult(0); } // rank 0 prints (mpirun)
            var result = Run(options, cancellation);
            Console.Out.WriteLine(JsonSerializer.Serialize(Summary(result)));
            return Task.FromResult(0);
        });
        return command;
    }

    public static object Summary(FinetuneResult r) => new
    {
        output = r.OutputDirectory, method = r.Method, steps = r.Step, train_loss = r.FinalTrainLoss, best_val_loss = r.BestValidationLoss,
        best_step = r.BestStep, stop = r.StopReason, trainable_parameters = r.TrainableParameters, total_parameters = r.TotalParameters,
        train_seconds = Math.Round(r.TrainSeconds, 2), step_seconds = Math.Round(r.MeanStepSeconds, 4), output_bytes = r.OutputBytes,
        peak_rss_mb = Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20),
    };

    /// <summary>Trains under a live progress line and prints the outcome on stderr.</summary>
    static FinetuneResult Run(FinetuneOptions options, CancellationToken cancellation)
    {
        if (!Directory.Exists(options.ModelDirectory)) throw new DirectoryNotFoundException($"model folder not found: {options.ModelDirectory}");
        if (!options.Resume) Terminal.Err.Write(new Panel(new Text(options.Config.ToJson().TrimEnd())).Header("finetune config").Collapse());
        var result = Terminal.WithProgress("finetune", report =>
            Finetuner.Run(options, TrainProgress.Reporter(line => Terminal.Info(Markup.Escape($"finetune: {line}")), report), cancellation));
        Terminal.Info(Markup.Escape($"finetune: {result.Summary}"));
        return result;
    }
}
