using Substrate.IO;
using System.Diagnostics;
using Substrate.Data;
using Substrate.Models;
using Substrate.Training.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// The pretraining recipe, top to bottom: open the data → resolve the config (or read the
/// checkpoint's) → build or load the model → AdamW → loop { micro-steps of forward, cross-entropy,
/// backward → clip → step } with validation, checkpoints, metrics.jsonl and loss.png along the way.
/// The batch of step s is a pure function of (seed, s, micro-step), so a run resumed from its
/// checkpoint sees the same data, weights and optimizer state as if it had never stopped.
/// Under <c>mpirun -np N</c> each rank trains on its slice of every global batch (N × batch_size rows; rank k reads rows
/// [k·B, (k+1)·B)), gradients are averaged over the ranks (<see cref="DataParallel"/>), every rank takes the same AdamW step,
/// and rank 0 alone writes metrics, reports and checkpoints. The data position is the step, so --resume works with any N.
/// </summary>
public static class Pretrainer
{
    /// <summary>The configuration <see cref="Run"/> would use (for the CLI to print first).</summary>
    public static PretrainConfig ResolveConfig(PretrainOptions options)
    {
        var meta = TokenShardMeta.Read(options.DataDirectory);
        var checkpoint = options.Resume ? RunCheckpoint.Find(options.OutputDirectory) : null;
        var config = checkpoint is not null ? ConfigResolver.ResolveResume(RunCheckpoint.ReadConfig(checkpoint), options.Overrides)
            : options.Resolved ?? ConfigResolver.Resolve(options.Config, options.Overrides, meta.VocabSize);
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
        var world = World.Current;
        if (!world.IsRoot) progress = null; // rank 0 reports for the job

        // Data: the training split, and the validation split when it has any tokens.
        using var trainData = TokenDataset.Open(options.DataDirectory, DataPreparer.TrainSplit);
        using var validationData = trainData.Meta.Splits.TryGetValue(DataPreparer.ValidationSplit, out var v) && v.Tokens > 0
            ? TokenDataset.Open(options.DataDirectory, DataPreparer.ValidationSplit) : null;

        // Config: a fresh run resolves preset → file → overrides; a resumed run reads its checkpoint (--resume without one is an error).
        using var run = RunFolder.Open(options.OutputDirectory, TrainerState.FileName, options.Resume, "training", writes: world.IsRoot);
        var config = ResolveConfig(options);
        DataParallel.CheckSameConfig(world, "configuration", $"{config.ToJson()}|{trainData.Meta.TokenizerFingerprint}|{trainData.Tokens}"
            + $"|{(run.Checkpoint is { } c ? File.ReadAllText(Path.Combine(c, TrainerState.FileName)) : "fresh")}|{options.ShardOptimizer}");
        var (modelConfig, train) = (config.Model, config.Train);
        if (trainData.SequentialWindows(train.SeqLen) == 0)
            throw new InvalidDataException($"the training split has no shard longer than seq_len = {train.SeqLen} tokens: too little data");
        bool validate = validationData is not null && validationData.SequentialWindows(train.SeqLen) > 0 && train.EvalBatches > 0;

        // Model and optimizer: fresh from the seed, or restored exactly from the checkpoint.
        var modelOptions = options.Runtime.Start(train.Dtype, train.Attention);
        LlamaForCausalLM model;
        if (run.Checkpoint is { } saved) model = ModelFolder.Load(saved, modelOptions);
        else
        {
            torch.manual_seed(train.Seed);
            model = new LlamaForCausalLM(modelConfig, modelOptions);
        }
        using var _model = model;
        model.train();
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)),
            new AdamWOptions(train.Beta1, train.Beta2, train.Eps, train.WeightDecay));
        // Sharded before the checkpoint's moments are read: each rank then makes and reads only its slice of them.
        using var parallel = DataParallel.Create(world, optimizer, options.ShardOptimizer);
        var state = run.Checkpoint is { } checkpoint
            ? RunCheckpoint.LoadOptimizer(checkpoint, optimizer)
            : new TrainerState { Seed = train.Seed, TokenizerFingerprint = trainData.Meta.TokenizerFingerprint, DataTrainTokens = trainData.Tokens };
        if (run.Checkpoint is not null && state.TokenizerFingerprint != trainData.Meta.TokenizerFingerprint)
            throw new ArgumentException($"the data's tokenizer ({trainData.Meta.TokenizerFingerprint}) "
                + $"is not the one this run was trained with ({state.TokenizerFingerprint})");

        // The run folder: metrics (a resumed run drops lines past its checkpoint), resolved config, tokenizer.
        run.StartMetrics(state.Step);
        if (run.Writes)
        {
            AtomicFile.WriteAllText(Path.Combine(run.Directory, RunCheckpoint.TrainConfigFile), PretrainConfig.ToJson(train));
            // The tokenizer travels with the data; copied here, the run folder is a complete HF model folder.
            foreach (var tokenizerFile in new[] { "tokenizer.json", "tokenizer_config.json" })
                if (File.Exists(Path.Combine(options.DataDirectory, tokenizerFile)))
                    AtomicFile.Copy(Path.Combine(options.DataDirectory, tokenizerFile), Path.Combine(run.Directory, tokenizerFile));
        }
        parallel.BroadcastParameters(); // the same start everywhere, whatever each rank's seed or checkpoint read gave

        double peakFlops = options.PeakFlops ?? MatmulPeak.Measure(modelOptions.ComputeDtype, modelOptions.Device);
        using var recipe = new Session(train, model, optimizer, parallel, run, state, trainData, validate ? validationData : null,
            ModelFlops.TrainingFlopsPerToken(modelConfig, train.SeqLen), peakFlops, session, progress);
        recipe.Report(TrainEvent.Started, message: (run.Checkpoint is null ? "fresh run" : $"resumed at step {state.Step}")
            + parallel.RanksNote(optimizer, options.ShardOptimizer, train.BatchSize)
            + $", {model.ParameterCount():N0} parameters, {recipe.FlopsPerToken / 1e6:F1} MFLOP/token, peak {peakFlops / 1e9:F0} GFLOP/s"
            + (validate ? "" : ", no validation (the split is missing or shorter than seq_len)"));
        string stopReason = recipe.Train(options.TimeLimit, cancellationToken);
        state = recipe.State;
        recipe.Report(TrainEvent.Finished, loss: state.LastTrainLoss, valLoss: state.LastValidationLoss,
            message: stopReason + DataParallel.PeakMemoryNote(world));
        return new PretrainResult(run.Directory, state.Step, state.TokensSeen, state.LastTrainLoss, state.LastValidationLoss, stopReason, recipe.Losses);
    }

    /// <summary>The loop and what it updates: the run state, the throughput window, validation, checkpoints, reports.</summary>
    sealed class Session(TrainConfig train, LlamaForCausalLM model, AdamW optimizer, DataParallel parallel, RunFolder run, TrainerState state,
        TokenDataset trainData, TokenDataset? validationData, double flopsPerToken, double peakFlops, Stopwatch session,
        IProgress<TrainProgress>? progress) : IDisposable
    {
        readonly LrSchedule schedule = LrSchedule.From(train);
        readonly TrainStep trainStep = new(model, optimizer, train.BatchSize, train.SeqLen, train.GradAccumSteps, train.GradClip, parallel);
        readonly long tokensPerStep = train.TokensPerStep * parallel.World.Size; // the global batch's
        readonly Queue<(long Tokens, double Seconds)> recent = new(); // throughput window
        readonly double previousElapsed = state.ElapsedSeconds;
        double lr, gradNorm, tokensPerSecond;

        public TrainerState State => state;
        public List<double> Losses { get; } = [];
        public double FlopsPerToken => flopsPerToken;
        double ElapsedSeconds => previousElapsed + session.Elapsed.TotalSeconds;

        /// <summary>Steps until max_steps, the time limit or cancellation; validates and checkpoints at the end. Returns why it stopped.</summary>
        public string Train(TimeSpan? timeLimit, CancellationToken cancellationToken)
        {
            string stopReason = "max_steps reached";
            int lastEval = -1, lastCheckpoint = run.Checkpoint is null ? -1 : state.Step;
            while (state.Step < train.MaxSteps)
            {
                if (cancellationToken.IsCancellationRequested) { stopReason = "cancelled"; break; }
                if (timeLimit is { } limit && session.Elapsed >= limit) { stopReason = "time limit reached"; break; }
                Step();
                if (train.EvalEvery > 0 && state.Step % train.EvalEvery == 0) { Validate(); lastEval = state.Step; }
                if (train.CheckpointEvery > 0 && state.Step % train.CheckpointEvery == 0) { Checkpoint(); lastCheckpoint = state.Step; }
            }
            if (lastEval != state.Step && state.Step > 0) Validate();
            if (lastCheckpoint != state.Step) Checkpoint();
            return stopReason;
        }

        /// <summary>One optimizer step on the batches of (seed, step), then its metrics line and report.</summary>
        void Step()
        {
            var stepTimer = Stopwatch.StartNew();
            int step = state.Step, B = train.BatchSize, T = train.SeqLen; // step: 0-based index of this update
            int firstRow = parallel.World.Rank * B; // this rank's rows of the global batch
            lr = schedule.At(step);
            (double loss, gradNorm) = run.Step(step + 1,
                () => trainStep.Run(lr, (micro, x, y) => trainData.ReadRandomBatch((ulong)train.Seed, step, micro, B, T, x, y, firstRow)));
            state = state with { Step = step + 1, TokensSeen = state.TokensSeen + tokensPerStep, LastTrainLoss = loss };
            Losses.Add(loss);

            recent.Enqueue((tokensPerStep, stepTimer.Elapsed.TotalSeconds));
            while (recent.Count > 20) recent.Dequeue();
            tokensPerSecond = recent.Sum(r => r.Tokens) / recent.Sum(r => r.Seconds);
            run.Metrics.Append(new MetricRecord
            {
                Step = state.Step, Loss = loss, RouterLoss = trainStep.LastRouterLoss, Lr = lr, GradNorm = gradNorm, TokensSeen = state.TokensSeen,
                TokensPerSecond = tokensPerSecond, Mfu = tokensPerSecond * flopsPerToken / peakFlops, ElapsedSeconds = ElapsedSeconds,
            });
            Report(TrainEvent.Step, loss: loss);
        }

        void Validate()
        {
            if (validationData is null) return;
            int B = train.BatchSize, T = train.SeqLen;
            int firstRow = parallel.World.Rank * B, globalB = parallel.World.Size * B; // this rank's rows of each global batch
            double loss = trainStep.Evaluate(train.EvalBatches, (i, x, y) => validationData.ReadSequentialBatch(i, B, T, x, y, firstRow, globalB));
            state = state with { LastValidationLoss = loss };
            run.Metrics.Append(new MetricRecord { Step = state.Step, ValidationLoss = loss });
            Report(TrainEvent.Validation, valLoss: loss);
        }

        void Checkpoint()
        {
            state = state with { ElapsedSeconds = ElapsedSeconds, OptimizerSteps = optimizer.Steps };
            RunCheckpoint.Save(run, model, optimizer, state, train);
            Report(TrainEvent.Checkpoint, message: Path.Combine(run.Directory, RunCheckpoint.DirectoryName));
        }

        public void Report(TrainEvent e, double? loss = null, double? valLoss = null, string? message = null)
        {
            double stepsPerSecond = recent.Count == 0 ? 0 : recent.Count / recent.Sum(r => r.Seconds);
            TimeSpan? eta = stepsPerSecond > 0 ? TimeSpan.FromSeconds((train.MaxSteps - state.Step) / stepsPerSecond) : null;
            progress?.Report(new TrainProgress(e, state.Step, train.MaxSteps, loss, valLoss, lr, gradNorm, state.TokensSeen,
                tokensPerSecond, tokensPerSecond * flopsPerToken / peakFlops, session.Elapsed, eta, message));
        }

        public void Dispose() => trainStep.Dispose();
    }
}
