using System.Diagnostics;
using Substrate.IO;
using Substrate.Data.Instructions;
using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Nn;
using Substrate.Tokenizers;
using Substrate.Training.Distributed;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training.Alignment;

/// <summary>
/// Direct preference optimization (Rafailov et al. 2023), top to bottom: encode each pair as prompt+chosen and
/// prompt+rejected (log-probabilities summed over the response tokens only) → the reference's log-probs, once
/// (LoRA: the same model with the adapter switched off; full: a frozen copy of the base, then freed) → loop {
/// policy log-probs of B pairs, loss = −log σ(β·((πc − πr) − (refc − refr))), backward, clip, AdamW } with the
/// implicit rewards β·(π − ref) reported: reward accuracy (chosen > rejected) and margin. Atomic checkpoints every
/// N steps and at the end; pairs are a pure function of (seed, step) and dropout is seeded per step, so a resumed
/// run continues exactly. Writes the adapter (PEFT) or the model (HF) with metrics.jsonl and loss.png. Under <c>mpirun</c>
/// a step's N × B pairs are split over the ranks (rank k takes pairs [k·B, (k+1)·B)), gradients and figures are averaged,
/// and rank 0 alone writes.
/// </summary>
public static class DpoTrainer
{
    public const string AdapterName = "dpo";

    public static DpoResult Run(DpoOptions o, IProgress<DpoProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        o.Validate();
        var clock = Stopwatch.StartNew();
        var world = World.Current; // under mpirun rank 0 reports for the job

        // Resume: the checkpoint must exist and have been made with these hyperparameters.
        using var run = RunFolder.Open(o.OutputDirectory, DpoState.FileName, o.Resume, "alignment", writes: world.IsRoot);
        DataParallel.CheckSameConfig(world, "configuration", $"{o.ToJson()}|{run.Checkpoint is not null}|{o.ShardOptimizer}");
        if (run.Checkpoint is { } saved && o.DifferencesFrom(File.ReadAllText(Path.Combine(saved, DpoOptions.ConfigFileName))) is { Count: > 0 } changed)
            throw new ArgumentException($"--resume: the run in '{run.Directory}' was started with other settings ({string.Join("; ", changed)}); "
                + "repeat its settings or start a new run");

        // Data, then the policy (fresh, or the checkpoint's) and the reference's log-probs (always the base's).
        var modelOptions = o.Runtime.Start(o.Dtype, o.Attention);
        var (rows, records) = LoadPairs(o, ModelFolder.ReadConfig(o.ModelDirectory).MaxPositionEmbeddings);
        string fingerprint = RunFolder.Fingerprint(o.DataPath);
        using var policy = PolicyModel.Load(o.ModelDirectory, modelOptions, o.Method == "lora" ? Adapter(o) : null, AdapterName, run.Checkpoint, o.Seed);
        var reference = ReferenceLogProbs(policy, o, modelOptions, rows);

        // Optimizer and run state (the checkpoint's on resume).
        policy.Model.train();
        using var optimizer = new AdamW(policy.Trainable, o.AdamW);
        using var parallel = DataParallel.Create(world, optimizer, o.ShardOptimizer); // sharded before the checkpoint's moments are read
        var state = run.Checkpoint is { } checkpoint ? Resume(checkpoint, optimizer, fingerprint) : new DpoState { DataFingerprint = fingerprint };
        var schedule = new LrSchedule(o.Lr, 0, o.WarmupSteps, o.MaxSteps);
        var metrics = run.StartMetrics(state.Step); // a resumed run drops lines past its checkpoint
        if (run.Writes) AtomicFile.WriteAllText(Path.Combine(run.Directory, DpoOptions.ConfigFileName), o.ToJson());
        int B = Math.Min(o.BatchSize, records), T = rows.SeqLen, N = world.Size;
        var order = new EpochOrder(records, o.Seed);
        var recent = new Queue<DpoStats>(state.Recent);
        parallel.BroadcastParameters();
        var step = new OptimizerStep(optimizer, o.GradClip, parallel);
        double previousElapsed = state.ElapsedSeconds;
        long[] x = new long[2 * B * T], y = new long[2 * B * T];

        void Checkpoint()
        {
            state = state with { ElapsedSeconds = previousElapsed + clock.Elapsed.TotalSeconds, OptimizerSteps = optimizer.Steps, Recent = [.. recent] };
            run.SaveCheckpoint(temp =>
            {
                policy.SaveWeights(temp);
                AtomicFile.WriteAllText(Path.Combine(temp, DpoOptions.ConfigFileName), o.ToJson());
            }, optimizer, state.Step, state.ToJson());
        }

        string stopReason = "max_steps reached";
        int lastCheckpoint = state.Step;
        while (state.Step < o.MaxSteps)
        {
            if (cancellationToken.IsCancellationRequested) { stopReason = "cancelled"; break; }
            if (o.TimeLimit is { } limit && clock.Elapsed >= limit) { stopReason = "time limit reached"; break; }
            int index = state.Step;
            var pairs = Enumerable.Range(0, B).Select(b => order.At((long)index * N * B + world.Rank * B + b)).ToArray(); // this rank's share
            FillPairs(rows, pairs, x, y);
            var refLogp = pairs.SelectMany(p => new[] { reference[2 * p], reference[2 * p + 1] }).ToArray();
            double lr = schedule.At(index);
            torch.manual_seed(o.Seed + index); // dropout of this step, reproducible on resume
            DpoStats stats = null!;
            var (_, gradNorm) = run.Step(index + 1, () => step.Run(lr, 1, _ => Loss(policy.Model, x, y, refLogp, o.Beta, out stats)));
            stats = stats.Map(parallel.Average); // the global batch's figures
            recent.Enqueue(stats);
            while (recent.Count > 10) recent.Dequeue();
            state = state with { Step = index + 1 };
            metrics.Append(new MetricRecord
            {
                Step = state.Step, Loss = stats.Loss, Lr = lr, GradNorm = gradNorm, ElapsedSeconds = previousElapsed + clock.Elapsed.TotalSeconds,
            });
            if (world.IsRoot) progress?.Report(new DpoProgress(state.Step, o.MaxSteps, stats.Loss, stats.RewardAccuracy, stats.RewardMargin,
                stats.ChosenReward, stats.RejectedReward, lr));
            if (o.CheckpointEvery > 0 && state.Step % o.CheckpointEvery == 0) { Checkpoint(); lastCheckpoint = state.Step; }
        }

        if (lastCheckpoint != state.Step || run.Checkpoint is null && state.Step == 0) Checkpoint();
        if (run.Writes) policy.SaveWeights(run.Directory);
        run.WritePlot();
        var mean = DpoStats.Mean(recent);
        return new DpoResult(run.Directory, o.Method, state.Step, mean.Loss, mean.RewardAccuracy, mean.RewardMargin, mean.ChosenReward, mean.RejectedReward,
            policy.TrainableCount, previousElapsed + clock.Elapsed.TotalSeconds, stopReason,
            (parallel.RanksNote(optimizer, o.ShardOptimizer, B) + DataParallel.PeakMemoryNote(world)).TrimStart(',', ' '));
    }

    /// <summary>A resumed run's state, with the optimizer's moments restored; the preference data must be the run's.</summary>
    static DpoState Resume(string checkpoint, AdamW optimizer, string fingerprint)
    {
        var state = DpoState.Read(Path.Combine(checkpoint, DpoState.FileName));
        CheckpointFolder.LoadOptimizer(checkpoint, optimizer, state.OptimizerSteps);
        if (state.DataFingerprint != fingerprint)
            throw new ArgumentException(
                $"--resume: the preference data changed since this run started (fingerprint {fingerprint}, run {state.DataFingerprint}); start a new run");
        return state;
    }

    static LoraAdapterConfig Adapter(DpoOptions o) => new()
    {
        R = o.LoraR, LoraAlpha = o.LoraAlpha, TargetModules = LoraAdapterConfig.ParseTargets(o.TargetModules), BaseModelNameOrPath = o.ModelDirectory,
    };

    /// <summary>Every pair as two rows, chosen at 2i and rejected at 2i+1, loss mask on the response; rows no longer than the longest pair needs.</summary>
    static (PackedRows Rows, int Records) LoadPairs(DpoOptions o, int maxPositions)
    {
        int T = Math.Min(o.MaxLength, maxPositions);
        var tokenizer = TokenizerLoader.Load(o.ModelDirectory);
        var records = PreferenceFile.Read(o.DataPath);
        var examples = records.SelectMany(r => new[] { Encode(tokenizer, r, r.Chosen, T), Encode(tokenizer, r, r.Rejected, T) }).ToList();
        T = Math.Min(T, examples.Max(e => e.Ids.Length) - 1);
        int padId = tokenizer.Special.Pad ?? tokenizer.Special.Eos ?? 0;
        var rows = new PackedRows(examples, T, padId, pack: false);
        if (rows.Count != 2 * records.Count) throw new InvalidDataException($"{o.DataPath}: some responses encode to no trainable tokens");
        return (rows, records.Count);
    }

    /// <summary>The reference's log-probs of every row, once: LoRA → the policy with its adapter switched off; full → a frozen
    /// copy of the base, then freed.</summary>
    static float[] ReferenceLogProbs(PolicyModel policy, DpoOptions o, ModelOptions modelOptions, PackedRows rows)
    {
        if (policy.Lora is { } lora)
            using (lora.Router.Use((string?)null)) return LogProbs(policy.Model, rows, o.BatchSize, modelOptions.Device);
        using var frozen = ModelFolder.Load(o.ModelDirectory, modelOptions);
        return LogProbs(frozen, rows, o.BatchSize, modelOptions.Device);
    }

    /// <summary>Rows 2p and 2p+1 (chosen, rejected) of each picked pair p, side by side: (2B, T) inputs and targets.</summary>
    static void FillPairs(PackedRows rows, int[] pairs, long[] x, long[] y)
    {
        int T = rows.SeqLen;
        for (int b = 0; b < pairs.Length; b++)
        {
            rows.Fill(2 * pairs[b], x.AsSpan(2 * b * T, T), y.AsSpan(2 * b * T, T));
            rows.Fill(2 * pairs[b] + 1, x.AsSpan((2 * b + 1) * T, T), y.AsSpan((2 * b + 1) * T, T));
        }
    }

    /// <summary>
    /// The DPO loss −log σ(β·((πc − πr) − (refc − refr))) of B pairs, run backward; returns it detached, with the step's figures.
    /// </summary>
    static Tensor Loss(LlamaForCausalLM model, long[] x, long[] y, float[] refLogp, double beta, out DpoStats stats)
    {
        int B = refLogp.Length / 2, T = x.Length / (2 * B);
        var device = model.Options.Device;
        var logp = SequenceLogProbs(model, x, y, 2 * B, T, device).view(B, 2);                      // (B, 2): chosen, rejected
        var rewards = (logp - tensor(refLogp, [B, 2], device: device)) * beta;                       // (B, 2) implicit rewards
        var margin = rewards[.., 0] - rewards[.., 1];                                                // (B)
        var loss = -F.logsigmoid(margin).mean();
        loss.backward();
        var r = rewards.detach().cpu();
        var m = margin.detach().cpu();
        stats = new DpoStats(loss.item<float>(), (m > 0).to(ScalarType.Float32).mean().item<float>(), m.mean().item<float>(),
            r[.., 0].mean().item<float>(), r[.., 1].mean().item<float>());
        return loss.detach();
    }

    /// <summary>prompt (with BOS) + response + EOS, the response and EOS trained; a long prompt loses its left part.</summary>
    private static SupervisedExample Encode(ITokenizer tokenizer, PreferenceRecord r, string response, int seqLen)
    {
        var prompt = tokenizer.Encode(r.Prompt, addSpecialTokens: true);
        var answer = tokenizer.Encode(response).ToList();
        if (tokenizer.Special.Eos is int eos) answer.Add(eos);
        if (answer.Count >= seqLen) throw new InvalidDataException($"{r.Source}: a response of {answer.Count} tokens does not fit max length {seqLen}");
        int keep = Math.Max(1, Math.Min(prompt.Length, seqLen + 1 - answer.Count));
        prompt = prompt[^keep..];
        return new SupervisedExample([.. prompt, .. answer], [.. prompt.Select(_ => false), .. answer.Select(_ => true)], r.Source);
    }

    /// <summary>Σ log p(target) over the non-ignored targets of each row: (rows) fp32, differentiable.</summary>
    public static Tensor SequenceLogProbs(LlamaForCausalLM model, long[] inputs, long[] targets, int rows, int seqLen, Device device)
    {
        var logits = model.forward(tensor(inputs, [rows, seqLen], device: device));                       // (R, T, V)
        var y = tensor(targets, [rows, seqLen], device: device);                                          // (R, T)
        var mask = y.ne(PackedRows.Ignore);                                                               // (R, T)
        var picked = logits.log_softmax(-1).gather(2, y.clamp_min(0).unsqueeze(2)).squeeze(2);           // (R, T)
        return (picked * mask.to(picked.dtype)).sum(1);                                                   // (R)
    }

    private static float[] LogProbs(LlamaForCausalLM model, PackedRows rows, int batchSize, Device device)
    {
        model.eval();
        var result = new float[rows.Count];
        int T = rows.SeqLen;
        using var _ = no_grad();
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, rows.Count - start);
            var x = new long[n * T];
            var y = new long[n * T];
            for (int i = 0; i < n; i++) rows.Fill(start + i, x.AsSpan(i * T, T), y.AsSpan(i * T, T));
            using var scope = NewDisposeScope();
            SequenceLogProbs(model, x, y, n, T, device).cpu().data<float>().CopyTo(result, start);
        }
        model.train();
        return result;
    }
}
