using Substrate.IO;
using System.Diagnostics;
using Substrate.Data;
using Substrate.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// The pretraining recipe, top to bottom: open the data → resolve the config (or read the
/// checkpoint's) → build or load the model → AdamW → loop { micro-steps of forward, cross-entropy,
/// backward → clip → step } with validation, checkpoints, metrics.jsonl and loss.png along the way.
/// The batch of step s is a pure function of (seed, s, micro-step), so a run resumed from its
/// checkpoint sees the same data, weights and optimizer state as if it had never stopped.
/// </summary>
public static class Pretrainer
{
    /// <summary>The configuration <see cref="Run"/> would use (for the CLI to print first).</summary>
    public static PretrainConfig ResolveConfig(PretrainOptions options)
    {
        var meta = TokenShardMeta.Read(options.DataDirectory);
        var checkpoint = options.Resume ? RunCheckpoint.Find(options.OutputDirectory) : null;
        var config = checkpoint is not null
            ? ConfigResolver.ResolveResume(RunCheckpoint.ReadConfig(checkpoint), options.Overrides)
            : ConfigResolver.Resolve(options.Config, options.Overrides, meta.VocabSize);
        ConfigResolver.CheckVocab(config.Model, meta.VocabSize);
        if (options.MaxSteps is int maxSteps) config = config with { Train = config.Train with { MaxSteps = maxSteps } };
        config = config with { Model = config.Model with { EosTokenId = config.Model.EosTokenId ?? meta.EosTokenId } };
        config.Train.Validate();
        if (config.Train.SeqLen > config.Model.MaxPositionEmbeddings)
            throw new ArgumentException($"config: seq_len {config.Train.SeqLen} exceeds max_position_embeddings {config.Model.MaxPositionEmbeddings}");
        return config;
    }

    public static PretrainResult Run(PretrainOptions options, IProgress<TrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var session = Stopwatch.StartNew();
        string runDir = options.OutputDirectory;

        // Data: the training split, and the validation split when it has any tokens.
        using var trainData = TokenDataset.Open(options.DataDirectory, DataPreparer.TrainSplit);
        using var validationData = trainData.Meta.Splits.TryGetValue(DataPreparer.ValidationSplit, out var v) && v.Tokens > 0
            ? TokenDataset.Open(options.DataDirectory, DataPreparer.ValidationSplit) : null;

        // Config: a fresh run resolves preset → file → overrides; a resumed run reads its checkpoint.
        var checkpoint = options.Resume ? RunCheckpoint.Find(runDir) : null;
        if (!options.Resume && RunCheckpoint.Find(runDir) is not null)
            throw new ArgumentException($"'{runDir}' already holds a training run; pass --resume to continue it or choose another output folder");
        var config = ResolveConfig(options);
        var (modelConfig, train) = (config.Model, config.Train);
        if (trainData.SequentialWindows(train.SeqLen) == 0)
            throw new InvalidDataException($"the training split has no shard longer than seq_len = {train.SeqLen} tokens: too little data");
        bool validate = validationData is not null && validationData.SequentialWindows(train.SeqLen) > 0 && train.EvalBatches > 0;
        Directory.CreateDirectory(runDir);

        // Runtime: threads, device, dtype.
        torch.set_num_threads(options.Threads > 0 ? options.Threads : Environment.ProcessorCount);
        var device = torch.device(options.Device);
        var modelOptions = new ModelOptions
        {
            ComputeDtype = train.Dtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32,
            Device = device,
            Attention = train.Attention == "eager" ? AttentionImplementation.Eager : AttentionImplementation.Fused,
        };

        // Model and optimizer: fresh from the seed, or restored exactly from the checkpoint.
        LlamaForCausalLM model;
        if (checkpoint is not null) model = ModelFolder.Load(checkpoint, modelOptions);
        else
        {
            torch.manual_seed(train.Seed);
            model = new LlamaForCausalLM(modelConfig, modelOptions);
        }
        using var _model = model;
        model.train();
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)),
            new AdamWOptions(train.Beta1, train.Beta2, train.Eps, train.WeightDecay));
        var state = checkpoint is not null
            ? RunCheckpoint.LoadOptimizer(checkpoint, optimizer)
            : new TrainerState { Seed = train.Seed, TokenizerFingerprint = trainData.Meta.TokenizerFingerprint, DataTrainTokens = trainData.Tokens };
        if (checkpoint is not null && state.TokenizerFingerprint != trainData.Meta.TokenizerFingerprint)
            throw new ArgumentException($"the data's tokenizer ({trainData.Meta.TokenizerFingerprint}) is not the one this run was trained with ({state.TokenizerFingerprint})");

        // The run folder: resolved config, tokenizer, metrics (a resumed run drops lines past its checkpoint).
        AtomicFile.WriteAllText(Path.Combine(runDir, RunCheckpoint.TrainConfigFile), PretrainConfig.ToJson(train));
        // The tokenizer travels with the data; copied here, the run folder is a complete HF model folder.
        foreach (var tokenizerFile in new[] { "tokenizer.json", "tokenizer_config.json" })
            if (File.Exists(Path.Combine(options.DataDirectory, tokenizerFile)))
                AtomicFile.Copy(Path.Combine(options.DataDirectory, tokenizerFile), Path.Combine(runDir, tokenizerFile));
        using var metrics = new MetricsLog(runDir, state.Step);

        var schedule = LrSchedule.From(train);
        double flopsPerToken = ModelFlops.TrainingFlopsPerToken(modelConfig, train.SeqLen);
        double peakFlops = options.PeakFlops ?? MatmulPeak.Measure(modelOptions.ComputeDtype, device);
        int B = train.BatchSize, T = train.SeqLen;
        using var trainStep = new TrainStep(model, optimizer, B, T, train.GradAccumSteps, train.GradClip);
        var losses = new List<double>();
        var recent = new Queue<(long Tokens, double Seconds)>(); // throughput window
        double previousElapsed = state.ElapsedSeconds;
        double lr = 0, gradNorm = 0, tokensPerSecond = 0;
        string stopReason = "max_steps reached";

        TrainProgress Report(TrainEvent e, double? loss = null, double? valLoss = null, string? message = null)
        {
            double stepsPerSecond = recent.Count == 0 ? 0 : recent.Count / recent.Sum(r => r.Seconds);
            TimeSpan? eta = stepsPerSecond > 0 ? TimeSpan.FromSeconds((train.MaxSteps - state.Step) / stepsPerSecond) : null;
            var report = new TrainProgress(e, state.Step, train.MaxSteps, loss, valLoss, lr, gradNorm, state.TokensSeen,
                tokensPerSecond, tokensPerSecond * flopsPerToken / peakFlops, session.Elapsed, eta, message);
            progress?.Report(report);
            return report;
        }

        double? Validate()
        {
            if (!validate) return null;
            double loss = trainStep.Evaluate(train.EvalBatches, (i, x, y) => validationData!.ReadSequentialBatch(i, B, T, x, y));
            state = state with { LastValidationLoss = loss };
            metrics.Append(new MetricRecord { Step = state.Step, ValidationLoss = loss });
            Report(TrainEvent.Validation, valLoss: loss);
            return loss;
        }

        void Checkpoint()
        {
            state = state with { ElapsedSeconds = previousElapsed + session.Elapsed.TotalSeconds, OptimizerSteps = optimizer.Steps };
            RunCheckpoint.Save(runDir, model, optimizer, state, train);
            LossPlot.Write(MetricsLog.Read(metrics.Path), Path.Combine(runDir, LossPlot.FileName));
            Report(TrainEvent.Checkpoint, message: Path.Combine(runDir, RunCheckpoint.DirectoryName));
        }

        Report(TrainEvent.Started, message: (checkpoint is null ? "fresh run" : $"resumed at step {state.Step}")
            + $", {model.ParameterCount():N0} parameters, {flopsPerToken / 1e6:F1} MFLOP/token, peak {peakFlops / 1e9:F0} GFLOP/s"
            + (validate ? "" : ", no validation (the split is missing or shorter than seq_len)"));

        int lastEval = -1, lastCheckpoint = checkpoint is null ? -1 : state.Step;
        while (state.Step < train.MaxSteps)
        {
            if (cancellationToken.IsCancellationRequested) { stopReason = "cancelled"; break; }
            if (options.TimeLimit is { } limit && session.Elapsed >= limit) { stopReason = "time limit reached"; break; }
            var stepTimer = Stopwatch.StartNew();
            int step = state.Step; // 0-based index of this update
            lr = schedule.At(step);
            (double loss, gradNorm) = trainStep.Run(lr, (micro, x, y) => trainData.ReadRandomBatch((ulong)train.Seed, step, micro, B, T, x, y));
            state = state with { Step = step + 1, TokensSeen = state.TokensSeen + train.TokensPerStep, LastTrainLoss = loss };
            losses.Add(loss);

            recent.Enqueue((train.TokensPerStep, stepTimer.Elapsed.TotalSeconds));
            while (recent.Count > 20) recent.Dequeue();
            tokensPerSecond = recent.Sum(r => r.Tokens) / recent.Sum(r => r.Seconds);
            metrics.Append(new MetricRecord
            {
                Step = state.Step, Loss = loss, Lr = lr, GradNorm = gradNorm, TokensSeen = state.TokensSeen,
                TokensPerSecond = tokensPerSecond, Mfu = tokensPerSecond * flopsPerToken / peakFlops,
                ElapsedSeconds = previousElapsed + session.Elapsed.TotalSeconds,
            });
            Report(TrainEvent.Step, loss: loss);

            if (train.EvalEvery > 0 && state.Step % train.EvalEvery == 0) { Validate(); lastEval = state.Step; }
            if (train.CheckpointEvery > 0 && state.Step % train.CheckpointEvery == 0) { Checkpoint(); lastCheckpoint = state.Step; }
        }

        if (lastEval != state.Step && state.Step > 0) Validate();
        if (lastCheckpoint != state.Step) Checkpoint();
        Report(TrainEvent.Finished, loss: state.LastTrainLoss, valLoss: state.LastValidationLoss, message: stopReason);
        return new PretrainResult(runDir, state.Step, state.TokensSeen, state.LastTrainLoss, state.LastValidationLoss, stopReason, losses);
    }
}
