using System.Diagnostics;
using Substrate.Data.Instructions;
using Substrate.IO;
using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Nn.Quantized;
using Substrate.Training.Distributed;
using TorchSharp;

namespace Substrate.Training.Finetuning;

/// <summary>
/// The supervised fine-tuning recipe, top to bottom: read the config (or the checkpoint's) → read, split, encode and pack
/// the instruction data (<see cref="FinetuneData"/>) → load the policy (<see cref="PolicyModel"/>: the frozen base with a
/// LoRA adapter, or every weight) → AdamW → loop { micro-steps of forward, masked cross-entropy (completion / assistant
/// tokens only, <see cref="NextTokenLoss"/>), backward → clip → step } with validation and early stopping (the run folder
/// keeps the best weights), atomic checkpoints, metrics.jsonl and loss.png. Batches and dropout are pure functions of
/// (seed, step), so a resumed run continues exactly. Under <c>mpirun</c> the ranks split each global batch as in
/// <see cref="Pretrainer"/>; the masked loss is normalized by the global target count, and rank 0 alone writes.
/// </summary>
public static class Finetuner
{
    public const string AdapterName = "train";

    public static FinetuneResult Run(FinetuneOptions options, IProgress<TrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var session = Stopwatch.StartNew();
        var world = World.Current;
        if (!world.IsRoot) progress = null; // rank 0 reports for the job

        // Config: the options' for a fresh run, the checkpoint's on resume (with another batch split, if --set asks: another rank count).
        using var run = RunFolder.Open(options.OutputDirectory, FinetuneState.FileName, options.Resume, "fine-tuning", writes: world.IsRoot);
        var config = run.Checkpoint is { } saved ? FinetuneConfig.Read(Path.Combine(saved, FinetuneConfig.FileName)).Resumed(options.Overrides)
            : options.Config;
        // --gradient-checkpointing on a resumed run turns it on (the same results, less memory: a run that ran out of memory resumes with it).
        if (options.Config.GradientCheckpointing) config = config with { GradientCheckpointing = true };
        config.Validate();
        DataParallel.CheckSameConfig(world, "configuration",
            $"{config.ToJson()}|{options.ModelDirectory}|{run.Checkpoint is not null}|{options.ShardOptimizer}");
        var modelConfig = ModelFolder.ReadConfig(options.ModelDirectory);
        if (config.SeqLen > modelConfig.MaxPositionEmbeddings)
            throw new ArgumentException($"config: seq_len {config.SeqLen} exceeds the model's max_position_embeddings {modelConfig.MaxPositionEmbeddings}");

        // Data, runtime, policy and optimizer (the checkpoint's state on resume).
        var data = FinetuneData.Load(options, config, world);
        // A QLoRA run returns freed memory to the kernel: each product dequantizes a dense temporary of its weight (up to
        // 8192 × 2048) and training's retain-everything malloc policy would keep every hole the quantized base was built around.
        var modelOptions = options.Runtime.Start(config.Dtype, config.Attention, config.BaseDtype, retainFreedMemory: config.BaseQuantization is null)
            with { GradientCheckpointing = config.GradientCheckpointing };
        using var policy = PolicyModel.Load(options.ModelDirectory, modelOptions, config.IsLora ? Adapter(config, options.ModelDirectory) : null,
            AdapterName, run.Checkpoint, config.Seed, config.BaseQuantization);
        policy.Model.train();
        using var optimizer = new AdamW(policy.Trainable, new AdamWOptions(config.Beta1, config.Beta2, config.Eps, config.WeightDecay));
        // Sharded (trainable parameters only: a LoRA run splits the adapter's moments) before the checkpoint's moments are read.
        using var parallel = DataParallel.Create(world, optimizer, options.ShardOptimizer);
        var state = run.Checkpoint is { } checkpoint
            ? FinetuneCheckpoint.LoadOptimizer(checkpoint, optimizer) : new FinetuneState { DataFingerprint = data.Fingerprint };
        if (state.DataFingerprint != data.Fingerprint)
            throw new ArgumentException(
                $"the data files changed since this run started (fingerprint {data.Fingerprint}, run {state.DataFingerprint}); start a new run");

        // The run folder: config, metrics (a resumed run drops lines past its checkpoint).
        run.StartMetrics(state.Step);
        if (run.Writes) AtomicFile.WriteAllText(Path.Combine(run.Directory, FinetuneConfig.FileName), config.ToJson());
        parallel.BroadcastParameters();
        using var recipe = new Session(config, data, policy, optimizer, parallel, run, state, session, progress);
        recipe.Report(TrainEvent.Started, message: (run.Checkpoint is null ? "fresh run" : $"resumed at step {state.Step}")
            + $", {config.Method}{(config.BaseQuantization is { } q ? $" on a {q.Name()} base" : "")}: "
            + $"{policy.TrainableCount:N0} trainable of {policy.TotalCount:N0} parameters "
            + $"({100.0 * policy.TrainableCount / policy.TotalCount:F2}%), {data.TrainRecords} train / {data.ValidationRecords} validation records "
            + $"in {data.TrainRows.Count} / {data.ValidationRows?.Count ?? 0} rows of {config.SeqLen} tokens"
            + (data.TrainRows.Truncated > 0 ? $" ({data.TrainRows.Truncated} examples truncated)" : "") + $", {data.MaxSteps} steps"
            + parallel.RanksNote(optimizer, options.ShardOptimizer, config.BatchSize));

        string stopReason = recipe.Train(options.TimeLimit, cancellationToken);
        if (run.Writes && (!data.HasValidation || recipe.State.BestValidationLoss is null))
            policy.SaveWeights(run.Directory); // no validation (or stopped before the first step): the last weights are the result
        state = recipe.State;
        recipe.Report(TrainEvent.Finished, loss: state.LastTrainLoss, valLoss: state.BestValidationLoss,
            message: stopReason + DataParallel.PeakMemoryNote(world));
        return new FinetuneResult(run.Directory, config.Method, state.Step, state.LastTrainLoss, state.BestValidationLoss, state.BestStep, stopReason,
            policy.TrainableCount, policy.TotalCount, recipe.ElapsedSeconds, recipe.MeanStepSeconds, run.Writes ? policy.WeightsBytes(run.Directory) : 0,
            state.TokensSeen);
    }

    static LoraAdapterConfig Adapter(FinetuneConfig config, string baseDirectory) => new()
    {
        R = config.LoraR, LoraAlpha = config.LoraAlpha, LoraDropout = config.LoraDropout,
        TargetModules = LoraAdapterConfig.ParseTargets(config.TargetModules), BaseModelNameOrPath = baseDirectory,
    };

    /// <summary>The loop and what it updates: the run state, validation with early stopping, checkpoints, reports.</summary>
    sealed class Session(FinetuneConfig config, FinetuneData data, PolicyModel policy, AdamW optimizer, DataParallel parallel, RunFolder run,
        FinetuneState state, Stopwatch session, IProgress<TrainProgress>? progress) : IDisposable
    {
        readonly double previousElapsed = state.ElapsedSeconds;
        readonly LrSchedule schedule = new(config.Lr, config.MinLr, config.WarmupSteps, data.MaxSteps);
        readonly OptimizerStep step = new(optimizer, config.GradClip, parallel);
        readonly NextTokenLoss loss = new();
        readonly List<double> stepSeconds = [];
        readonly long[][] inputs = Rows(config), targets = Rows(config), segments = Rows(config); // per micro-step, (B·T) each
        double lr, gradNorm, tokensPerSecond;

        public FinetuneState State => state;
        public double ElapsedSeconds => previousElapsed + session.Elapsed.TotalSeconds;
        public double MeanStepSeconds => stepSeconds.Count == 0 ? 0 : stepSeconds.Average();

        static long[][] Rows(FinetuneConfig c) => Enumerable.Range(0, c.GradAccumSteps).Select(_ => new long[c.BatchSize * c.SeqLen]).ToArray();

        /// <summary>Steps until max_steps, the time limit, cancellation or early stopping; validates and checkpoints at the end.
        /// Returns why it stopped.</summary>
        public string Train(TimeSpan? timeLimit, CancellationToken cancellationToken)
        {
            string stopReason = "max_steps reached";
            int lastEval = -1, lastCheckpoint = run.Checkpoint is null ? -1 : state.Step;
            bool earlyStop = false;
            while (state.Step < data.MaxSteps)
            {
                if (cancellationToken.IsCancellationRequested) { stopReason = "cancelled"; break; }
                if (timeLimit is { } limit && session.Elapsed >= limit) { stopReason = "time limit reached"; break; }
                Step();
                if (config.EvalEvery > 0 && state.Step % config.EvalEvery == 0)
                {
                    lastEval = state.Step;
                    if (earlyStop = ValidateAndKeepBest())
                    {
                        stopReason = $"early stop: no validation improvement in {config.Patience} evaluations (best at step {state.BestStep})";
                        break;
                    }
                }
                if (config.CheckpointEvery > 0 && state.Step % config.CheckpointEvery == 0) { Checkpoint(); lastCheckpoint = state.Step; }
            }
            if (lastEval != state.Step && state.Step > 0 && !earlyStop) ValidateAndKeepBest();
            if (lastCheckpoint != state.Step) Checkpoint();
            return stopReason;
        }

        /// <summary>One optimizer step: the step's batches, their target count, then the shared step over the masked loss.</summary>
        void Step()
        {
            var stepTimer = Stopwatch.StartNew();
            int index = state.Step, B = config.BatchSize, T = config.SeqLen;
            lr = schedule.At(index);
            torch.manual_seed(config.Seed + index); // dropout of this step, reproducible on resume
            long count = 0;
            for (int m = 0; m < config.GradAccumSteps; m++)
            {
                data.Batches.Fill(index, m, inputs[m], targets[m], config.Pack ? segments[m] : default);
                count += targets[m].Count(v => v != PackedRows.Ignore);
            }
            var device = policy.Model.Options.Device;
            // Every rank divides by the global target count / N: the mean of the ranks' gradients is then the global masked mean's.
            long globalCount = (long)parallel.World.AllReduceSum(count);
            double divisor = (double)globalCount / parallel.World.Size;
            double? router = null;
            (double stepLoss, gradNorm) = run.Step(index + 1, () => step.Run(lr, config.GradAccumSteps, m =>
            {
                var logits = SupervisedBatches.TrainingLogits(policy.Model, inputs[m], config.Pack ? segments[m] : null, B, T, device);
                router = RouterLossStep.Accumulate(router, RouterLossStep.Backward(policy.Model, config.GradAccumSteps)); // load balancing and z-loss
                return loss.MaskedBackward(logits, targets[m], divisor);
            }));
            state = state with { Step = index + 1, TokensSeen = state.TokensSeen + globalCount, LastTrainLoss = stepLoss };
            double seconds = stepTimer.Elapsed.TotalSeconds;
            stepSeconds.Add(seconds);
            tokensPerSecond = (double)B * T * config.GradAccumSteps * parallel.World.Size / seconds;
            run.Metrics.Append(new MetricRecord
            {
                Step = state.Step, Loss = stepLoss, RouterLoss = router is double r ? parallel.Average(r / config.GradAccumSteps) : null,
                Lr = lr, GradNorm = gradNorm, TokensSeen = state.TokensSeen,
                TokensPerSecond = tokensPerSecond, ElapsedSeconds = ElapsedSeconds,
            });
            Report(TrainEvent.Step, loss: stepLoss);
        }

        /// <summary>Early stopping: every validation that sets a new best writes the weights to the run folder. True: stop now.</summary>
        bool ValidateAndKeepBest()
        {
            if (!data.HasValidation) return false;
            double validationLoss = data.ValidationLoss(policy.Model, config.Pack);
            bool improved = state.BestValidationLoss is not double best || validationLoss < best;
            state = state with
            {
                LastValidationLoss = validationLoss,
                BestValidationLoss = improved ? validationLoss : state.BestValidationLoss,
                BestStep = improved ? state.Step : state.BestStep,
                EvalsWithoutImprovement = improved ? 0 : state.EvalsWithoutImprovement + 1,
            };
            if (improved && run.Writes) policy.SaveWeights(run.Directory);
            run.Metrics.Append(new MetricRecord { Step = state.Step, ValidationLoss = validationLoss });
            Report(TrainEvent.Validation, valLoss: validationLoss,
                message: improved ? "new best" : $"no improvement ({state.EvalsWithoutImprovement}/{config.Patience})");
            return config.Patience > 0 && state.EvalsWithoutImprovement >= config.Patience;
        }

        void Checkpoint()
        {
            state = state with { ElapsedSeconds = ElapsedSeconds, OptimizerSteps = optimizer.Steps };
            FinetuneCheckpoint.Save(run, policy.SaveWeights, optimizer, state, config);
            Report(TrainEvent.Checkpoint, message: Path.Combine(run.Directory, FinetuneCheckpoint.DirectoryName));
        }

        public void Report(TrainEvent e, double? loss = null, double? valLoss = null, string? message = null) =>
            progress?.Report(new TrainProgress(e, state.Step, data.MaxSteps, loss, valLoss, lr, gradNorm, state.TokensSeen, tokensPerSecond, 0,
                session.Elapsed, null, message));

        public void Dispose() => loss.Dispose();
    }
}
