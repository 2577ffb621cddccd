using Substrate.IO;
using System.Diagnostics;
using System.Security.Cryptography;
using Substrate.Data.Instructions;
using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Nn;
using Substrate.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Training.Finetuning;

/// <summary>
/// The supervised fine-tuning recipe, top to bottom: read the config (or the checkpoint's) → read, split, encode
/// and pack the instruction data → load the base, frozen with a fresh LoRA adapter or fully trainable → AdamW →
/// loop { micro-steps of forward, masked cross-entropy (completion / assistant tokens only), backward → clip → step }
/// with validation and early stopping (the run folder keeps the best weights), atomic checkpoints, metrics.jsonl
/// and loss.png. Batches and dropout are pure functions of (seed, step), so a resumed run continues exactly.
/// </summary>
public static class Finetuner
{
    public const string AdapterName = "train";

    public static FinetuneResult Run(FinetuneOptions options, IProgress<TrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var session = Stopwatch.StartNew();
        string runDir = options.OutputDirectory;

        // Config: the options' for a fresh run, the checkpoint's on resume.
        var checkpoint = options.Resume ? FinetuneCheckpoint.Find(runDir) : null;
        if (options.Resume && checkpoint is null) throw new ArgumentException($"--resume: no fine-tuning checkpoint in '{runDir}'");
        if (!options.Resume && FinetuneCheckpoint.Find(runDir) is not null)
            throw new ArgumentException($"'{runDir}' already holds a fine-tuning run; pass --resume to continue it or choose another output folder");
        var config = checkpoint is not null ? FinetuneConfig.Read(Path.Combine(checkpoint, FinetuneConfig.FileName)) : options.Config;
        config.Validate();
        var modelConfig = ModelFolder.ReadConfig(options.ModelDirectory);
        if (config.SeqLen > modelConfig.MaxPositionEmbeddings)
            throw new ArgumentException($"config: seq_len {config.SeqLen} exceeds the model's max_position_embeddings {modelConfig.MaxPositionEmbeddings}");

        // Data: records → train/validation split → token ids with loss masks → packed rows.
        var tokenizer = TokenizerLoader.Load(options.ModelDirectory);
        var tokenizerConfig = TokenizerLoader.LoadConfig(options.ModelDirectory);
        var records = InstructionFile.Read(options.DataPath);
        var (trainRecords, validationRecords) = Split(records, options.ValidationPath, config);
        var encoder = new SupervisedEncoder(tokenizer, tokenizerConfig);
        int padId = tokenizer.Special.Pad ?? tokenizer.Special.Eos ?? 0;
        var trainRows = new PackedRows(trainRecords.Select(encoder.Encode), config.SeqLen, padId, config.Pack);
        var validationRows = validationRecords.Count > 0 ? new PackedRows(validationRecords.Select(encoder.Encode), config.SeqLen, padId, config.Pack) : null;
        if (trainRows.Count == 0) throw new InvalidDataException($"{options.DataPath}: no trainable tokens after encoding");
        int B = config.BatchSize, T = config.SeqLen, accum = config.GradAccumSteps;
        var batches = new SupervisedBatches(trainRows, B, accum, config.Seed);
        int maxSteps = config.MaxSteps > 0 ? config.MaxSteps : Math.Max(1, (int)Math.Ceiling(config.Epochs * batches.StepsPerEpoch));
        string fingerprint = Fingerprint(options.DataPath, options.ValidationPath);

        // Runtime.
        torch.set_num_threads(options.Threads > 0 ? options.Threads : Environment.ProcessorCount);
        var device = torch.device(options.Device);
        var modelOptions = new ModelOptions
        {
            ComputeDtype = config.Dtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32, Device = device,
            WeightDtype = config.BaseDtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32,
            Attention = config.Attention == "eager" ? AttentionImplementation.Eager : AttentionImplementation.Fused,
        };

        // Model: LoRA → the frozen base with an adapter (fresh, or the checkpoint's); full → every weight trains.
        LoraModel? lora = null;
        LlamaForCausalLM model;
        List<(string Name, Tensor Parameter)> trainable;
        if (config.IsLora)
        {
            lora = LoraModel.Load(options.ModelDirectory, modelOptions);
            if (checkpoint is null)
                lora.AddAdapter(AdapterName, new LoraAdapterConfig
                {
                    R = config.LoraR, LoraAlpha = config.LoraAlpha, LoraDropout = config.LoraDropout,
                    TargetModules = LoraAdapterConfig.ParseTargets(config.TargetModules), BaseModelNameOrPath = options.ModelDirectory,
                }, config.Seed);
            else lora.LoadAdapter(AdapterName, checkpoint);
            lora.Router.Default = new LoraSelection(AdapterName);
            model = lora.Model;
            trainable = lora.AdapterParameters(AdapterName).ToList();
            foreach (var (_, p) in trainable) p.requires_grad = true;
        }
        else
        {
            model = ModelFolder.Load(checkpoint ?? options.ModelDirectory, modelOptions);
            trainable = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList();
        }
        using var _model = model;
        model.train();
        long trainableCount = trainable.Sum(p => p.Parameter.numel());
        long totalCount = model.ParameterCount() + (lora is null ? 0 : trainableCount);
        void SaveWeights(string dir) => SaveWeightsTo(dir, lora, AdapterName, model, options.ModelDirectory);

        using var optimizer = new AdamW(trainable, new AdamWOptions(config.Beta1, config.Beta2, config.Eps, config.WeightDecay));
        var state = checkpoint is not null ? FinetuneCheckpoint.LoadOptimizer(checkpoint, optimizer) : new FinetuneState { DataFingerprint = fingerprint };
        if (state.DataFingerprint != fingerprint)
            throw new ArgumentException($"the data files changed since this run started (fingerprint {fingerprint}, run {state.DataFingerprint}); start a new run");

        // The run folder: config, metrics (a resumed run drops lines past its checkpoint).
        Directory.CreateDirectory(runDir);
        AtomicFile.WriteAllText(Path.Combine(runDir, FinetuneConfig.FileName), config.ToJson());
        using var metrics = new MetricsLog(runDir, state.Step);
        var schedule = new LrSchedule(config.Lr, config.MinLr, config.WarmupSteps, maxSteps);
        var losses = new List<double>();
        var stepSeconds = new List<double>();
        double previousElapsed = state.ElapsedSeconds, lr = 0, gradNorm = 0, tokensPerSecond = 0;
        string stopReason = "max_steps reached";
        var inputs = new long[accum][];
        var targets = new long[accum][];
        var segments = new long[accum][]; // packed rows: each example's own positions and attention (null: unpacked)
        for (int m = 0; m < accum; m++) { inputs[m] = new long[B * T]; targets[m] = new long[B * T]; segments[m] = new long[B * T]; }

        TrainProgress Report(TrainEvent e, double? loss = null, double? valLoss = null, string? message = null)
        {
            var report = new TrainProgress(e, state.Step, maxSteps, loss, valLoss, lr, gradNorm, state.TokensSeen, tokensPerSecond, 0,
                session.Elapsed, null, message);
            progress?.Report(report);
            return report;
        }

        double Validate()
        {
            model.eval();
            double sum = 0;
            long count = 0;
            var x = new long[B * T];
            var y = new long[B * T];
            var z = config.Pack ? new long[B * T] : null;
            using (no_grad())
                for (int start = 0; start < validationRows!.Count; start += B)
                {
                    using var scope = NewDisposeScope();
                    for (int b = 0; b < B; b++)
                        if (start + b < validationRows.Count) validationRows.Fill(start + b, x.AsSpan(b * T, T), y.AsSpan(b * T, T), z is null ? default : z.AsSpan(b * T, T));
                        else { Array.Fill(x, padId, b * T, T); Array.Fill(y, PackedRows.Ignore, b * T, T); if (z is not null) Array.Fill(z, 0, b * T, T); }
                    var logits = SupervisedBatches.Logits(model, x, z, B, T, device); // (B, T, V)
                    var (lossSum, n) = SupervisedBatches.MaskedLoss(logits, y, device);
                    sum += lossSum.item<float>();
                    count += n;
                }
            model.train();
            return sum / Math.Max(1, count);
        }

        void Checkpoint()
        {
            state = state with { ElapsedSeconds = previousElapsed + session.Elapsed.TotalSeconds, OptimizerSteps = optimizer.Steps };
            FinetuneCheckpoint.Save(runDir, SaveWeights, optimizer, state, config);
            LossPlot.Write(MetricsLog.Read(metrics.Path), Path.Combine(runDir, LossPlot.FileName));
            Report(TrainEvent.Checkpoint, message: Path.Combine(runDir, FinetuneCheckpoint.DirectoryName));
        }

        // Early stopping: every validation that sets a new best writes the weights to the run folder.
        bool ValidateAndKeepBest()
        {
            if (validationRows is null || validationRows.Count == 0) return false;
            double loss = Validate();
            bool improved = state.BestValidationLoss is not double best || loss < best;
            state = state with
            {
                LastValidationLoss = loss,
                BestValidationLoss = improved ? loss : state.BestValidationLoss,
                BestStep = improved ? state.Step : state.BestStep,
                EvalsWithoutImprovement = improved ? 0 : state.EvalsWithoutImprovement + 1,
            };
            if (improved) SaveWeights(runDir);
            metrics.Append(new MetricRecord { Step = state.Step, ValidationLoss = loss });
            Report(TrainEvent.Validation, valLoss: loss, message: improved ? "new best" : $"no improvement ({state.EvalsWithoutImprovement}/{config.Patience})");
            return config.Patience > 0 && state.EvalsWithoutImprovement >= config.Patience;
        }

        Report(TrainEvent.Started, message: (checkpoint is null ? "fresh run" : $"resumed at step {state.Step}")
            + $", {config.Method}: {trainableCount:N0} trainable of {totalCount:N0} parameters ({100.0 * trainableCount / totalCount:F2}%), "
            + $"{trainRecords.Count} train / {validationRecords.Count} validation records in {trainRows.Count} / {validationRows?.Count ?? 0} rows of {T} tokens"
            + (trainRows.Truncated > 0 ? $" ({trainRows.Truncated} examples truncated)" : "") + $", {maxSteps} steps");

        int lastEval = -1, lastCheckpoint = checkpoint is null ? -1 : state.Step;
        while (state.Step < maxSteps)
        {
            if (cancellationToken.IsCancellationRequested) { stopReason = "cancelled"; break; }
            if (options.TimeLimit is { } limit && session.Elapsed >= limit) { stopReason = "time limit reached"; break; }
            var stepTimer = Stopwatch.StartNew();
            int step = state.Step;
            lr = schedule.At(step);
            torch.manual_seed(config.Seed + step); // dropout of this step, reproducible on resume
            long count = 0;
            for (int m = 0; m < accum; m++)
            {
                batches.Fill(step, m, inputs[m], targets[m], config.Pack ? segments[m] : default);
                count += targets[m].Count(v => v != PackedRows.Ignore);
            }
            double loss = 0;
            using (var scope = NewDisposeScope())
            {
                for (int m = 0; m < accum; m++)
                {
                    var logits = SupervisedBatches.Logits(model, inputs[m], config.Pack ? segments[m] : null, B, T, device); // (B, T, V)
                    var (lossSum, _) = SupervisedBatches.MaskedLoss(logits, targets[m], device);
                    var scaled = lossSum / Math.Max(1, count); // mean over the step's target tokens
                    scaled.backward();
                    loss += scaled.item<float>();
                }
                gradNorm = optimizer.GradNorm();
                optimizer.Step(lr, AdamW.ClipScale(gradNorm, config.GradClip));
                optimizer.ZeroGrad();
            }
            state = state with { Step = step + 1, TokensSeen = state.TokensSeen + count, LastTrainLoss = loss };
            losses.Add(loss);
            double seconds = stepTimer.Elapsed.TotalSeconds;
            stepSeconds.Add(seconds);
            tokensPerSecond = (double)B * T * accum / seconds;
            metrics.Append(new MetricRecord
            {
                Step = state.Step, Loss = loss, Lr = lr, GradNorm = gradNorm, TokensSeen = state.TokensSeen,
                TokensPerSecond = tokensPerSecond, ElapsedSeconds = previousElapsed + session.Elapsed.TotalSeconds,
            });
            Report(TrainEvent.Step, loss: loss);

            if (config.EvalEvery > 0 && state.Step % config.EvalEvery == 0)
            {
                lastEval = state.Step;
                if (ValidateAndKeepBest()) { stopReason = $"early stop: no validation improvement in {config.Patience} evaluations (best at step {state.BestStep})"; break; }
            }
            if (config.CheckpointEvery > 0 && state.Step % config.CheckpointEvery == 0) { Checkpoint(); lastCheckpoint = state.Step; }
        }

        if (lastEval != state.Step && state.Step > 0 && !stopReason.StartsWith("early stop", StringComparison.Ordinal)) ValidateAndKeepBest();
        if (lastCheckpoint != state.Step) Checkpoint();
        if (validationRows is null || validationRows.Count == 0 || state.BestValidationLoss is null)
            SaveWeights(runDir); // no validation (or stopped before the first step): the last weights are the result
        Report(TrainEvent.Finished, loss: state.LastTrainLoss, valLoss: state.BestValidationLoss, message: stopReason);
        long outputBytes = lora is not null
            ? new FileInfo(Path.Combine(runDir, LoraModel.AdapterWeightsFile)).Length
            : new FileInfo(Path.Combine(runDir, ModelFolder.WeightsFile)).Length;
        return new FinetuneResult(runDir, config.Method, state.Step, state.LastTrainLoss, state.BestValidationLoss, state.BestStep, stopReason,
            trainableCount, totalCount, previousElapsed + session.Elapsed.TotalSeconds, stepSeconds.Count == 0 ? 0 : stepSeconds.Average(), outputBytes);
    }

    /// <summary>Held-out records: the validation file's, or the last val_fraction of a seeded shuffle of the data.</summary>
    private static (List<InstructionRecord> Train, List<InstructionRecord> Validation) Split(List<InstructionRecord> records, string? validationPath, FinetuneConfig config)
    {
        if (validationPath is not null) return (records, InstructionFile.Read(validationPath));
        var shuffled = records.ToArray();
        new Random(unchecked((int)config.Seed)).Shuffle(shuffled);
        int held = records.Count < 2 ? 0 : Math.Min(records.Count - 1, (int)Math.Round(records.Count * config.ValFraction));
        return (shuffled[held..].ToList(), shuffled[..held].ToList());
    }

    internal static string Fingerprint(params string?[] paths)
    {
        using var sha = SHA256.Create();
        foreach (var path in paths.Where(p => p is not null))
        {
            using var f = File.OpenRead(path!);
            var hash = SHA256.HashData(f);
            sha.TransformBlock(hash, 0, hash.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexString(sha.Hash!)[..16].ToLowerInvariant();
    }

    /// <summary>A run's result into <paramref name="dir"/>: the PEFT adapter (LoRA), or the HF model folder with the base's tokenizer.</summary>
    internal static void SaveWeightsTo(string dir, LoraModel? lora, string adapterName, LlamaForCausalLM model, string baseDirectory)
    {
        if (lora is not null) { lora.SaveAdapter(adapterName, dir); return; }
        ModelFolder.Save(model, dir);
        CopyTokenizer(baseDirectory, dir);
    }

    internal static void CopyTokenizer(string from, string to)
    {
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            if (File.Exists(Path.Combine(from, file)) && Path.GetFullPath(from) != Path.GetFullPath(to))
                File.Copy(Path.Combine(from, file), Path.Combine(to, file), overwrite: true);
    }
}
