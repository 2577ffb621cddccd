using System.Diagnostics;
using Substrate.IO;
using Substrate.Data.Instructions;
using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Nn;
using Substrate.Tokenizers;
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
/// run continues exactly. Writes the adapter (PEFT) or the model (HF) with metrics.jsonl and loss.png.
/// </summary>
public static class DpoTrainer
{
    public const string AdapterName = "dpo";

    public static DpoResult Run(DpoOptions o, IProgress<DpoProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        o.Validate();
        var clock = Stopwatch.StartNew();
        string runDir = o.OutputDirectory;

        // Resume: the checkpoint must exist and have been made with these hyperparameters.
        var checkpoint = CheckpointFolder.Find(runDir, DpoState.FileName);
        if (o.Resume && checkpoint is null) throw new ArgumentException($"--resume: no alignment checkpoint in '{runDir}'");
        if (!o.Resume && checkpoint is not null)
            throw new ArgumentException($"'{runDir}' already holds an alignment run; pass --resume to continue it or choose another output folder");
        if (checkpoint is not null && o.DifferencesFrom(File.ReadAllText(Path.Combine(checkpoint, DpoOptions.ConfigFileName))) is { Count: > 0 } changed)
            throw new ArgumentException($"--resume: the run in '{runDir}' was started with other settings ({string.Join("; ", changed)}); repeat its settings or start a new run");

        torch.set_num_threads(o.Threads > 0 ? o.Threads : Environment.ProcessorCount);
        var device = torch.device(o.Device);
        var modelOptions = new ModelOptions { ComputeDtype = o.Dtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32, Device = device };
        var modelConfig = ModelFolder.ReadConfig(o.ModelDirectory);
        int T = Math.Min(o.MaxLength, modelConfig.MaxPositionEmbeddings);

        // Data: every pair as two rows, chosen at 2i and rejected at 2i+1, loss mask on the response.
        var tokenizer = TokenizerLoader.Load(o.ModelDirectory);
        var records = PreferenceFile.Read(o.DataPath);
        var examples = records.SelectMany(r => new[] { Encode(tokenizer, r, r.Chosen, T), Encode(tokenizer, r, r.Rejected, T) }).ToList();
        T = Math.Min(T, examples.Max(e => e.Ids.Length) - 1); // rows no longer than the longest pair needs
        int padId = tokenizer.Special.Pad ?? tokenizer.Special.Eos ?? 0;
        var rows = new PackedRows(examples, T, padId, pack: false);
        if (rows.Count != 2 * records.Count) throw new InvalidDataException($"{o.DataPath}: some responses encode to no trainable tokens");
        string fingerprint = Finetuning.Finetuner.Fingerprint(o.DataPath);

        // Policy (fresh, or the checkpoint's) and reference (always the base).
        LoraModel? lora = null;
        LlamaForCausalLM model;
        List<(string Name, Tensor Parameter)> trainable;
        if (o.Method == "lora")
        {
            lora = LoraModel.Load(o.ModelDirectory, modelOptions);
            if (checkpoint is not null) lora.LoadAdapter(AdapterName, checkpoint);
            else
                lora.AddAdapter(AdapterName, new LoraAdapterConfig
                {
                    R = o.LoraR, LoraAlpha = o.LoraAlpha, TargetModules = LoraAdapterConfig.ParseTargets(o.TargetModules), BaseModelNameOrPath = o.ModelDirectory,
                }, o.Seed);
            lora.Router.Default = new LoraSelection(AdapterName);
            model = lora.Model;
            trainable = lora.AdapterParameters(AdapterName).ToList();
            foreach (var (_, p) in trainable) p.requires_grad = true;
        }
        else
        {
            model = ModelFolder.Load(checkpoint ?? o.ModelDirectory, modelOptions);
            trainable = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList();
        }
        using var _model = model;
        float[] reference;
        if (lora is not null)
            using (lora.Router.Use((string?)null)) reference = LogProbs(model, rows, o.BatchSize, device);
        else
        {
            using var frozen = ModelFolder.Load(o.ModelDirectory, modelOptions);
            reference = LogProbs(frozen, rows, o.BatchSize, device);
        }
        void SaveWeights(string dir) => Finetuning.Finetuner.SaveWeightsTo(dir, lora, AdapterName, model, o.ModelDirectory);

        // Optimizer and run state (the checkpoint's on resume).
        model.train();
        using var optimizer = new AdamW(trainable, new AdamWOptions(0.9, 0.999, 1e-8, 0));
        var state = new DpoState { DataFingerprint = fingerprint };
        if (checkpoint is not null)
        {
            state = DpoState.Read(Path.Combine(checkpoint, DpoState.FileName));
            CheckpointFolder.LoadOptimizer(checkpoint, optimizer, state.OptimizerSteps);
            if (state.DataFingerprint != fingerprint)
                throw new ArgumentException($"--resume: the preference data changed since this run started (fingerprint {fingerprint}, run {state.DataFingerprint}); start a new run");
        }
        var schedule = new LrSchedule(o.Lr, 0, o.WarmupSteps, o.MaxSteps);
        Directory.CreateDirectory(runDir);
        using var metrics = new MetricsLog(runDir, state.Step); // a resumed run drops lines past its checkpoint
        int B = Math.Min(o.BatchSize, records.Count);
        var order = new EpochOrder(records.Count, o.Seed);
        var recent = new Queue<double[]>(state.Recent);
        double previousElapsed = state.ElapsedSeconds;
        var x = new long[2 * B * T];
        var y = new long[2 * B * T];

        void Checkpoint()
        {
            state = state with { ElapsedSeconds = previousElapsed + clock.Elapsed.TotalSeconds, OptimizerSteps = optimizer.Steps, Recent = [.. recent] };
            CheckpointFolder.Save(runDir, temp =>
            {
                SaveWeights(temp);
                AtomicFile.WriteAllText(Path.Combine(temp, DpoOptions.ConfigFileName), o.ToJson());
            }, optimizer, state.Step, DpoState.FileName, state.ToJson());
            LossPlot.Write(MetricsLog.Read(metrics.Path), Path.Combine(runDir, LossPlot.FileName));
        }

        string stopReason = "max_steps reached";
        int lastCheckpoint = state.Step;
        while (state.Step < o.MaxSteps)
        {
            if (cancellationToken.IsCancellationRequested) { stopReason = "cancelled"; break; }
            if (o.TimeLimit is { } limit && clock.Elapsed >= limit) { stopReason = "time limit reached"; break; }
            int step = state.Step;
            var pairs = Enumerable.Range(0, B).Select(b => order.At((long)step * B + b)).ToArray();
            for (int b = 0; b < B; b++)
            {
                rows.Fill(2 * pairs[b], x.AsSpan(2 * b * T, T), y.AsSpan(2 * b * T, T));
                rows.Fill(2 * pairs[b] + 1, x.AsSpan((2 * b + 1) * T, T), y.AsSpan((2 * b + 1) * T, T));
            }
            double lr = schedule.At(step);
            torch.manual_seed(o.Seed + step); // dropout of this step, reproducible on resume
            using var scope = NewDisposeScope();
            var logp = SequenceLogProbs(model, x, y, 2 * B, T, device).view(B, 2);                                   // (B, 2): chosen, rejected
            var refLogp = tensor(pairs.SelectMany(p => new[] { reference[2 * p], reference[2 * p + 1] }).ToArray(), [B, 2], device: device);
            var rewards = (logp - refLogp) * o.Beta;                                                                  // (B, 2) implicit rewards
            var margin = rewards[.., 0] - rewards[.., 1];                                                             // (B)
            var loss = -F.logsigmoid(margin).mean();
            loss.backward();
            double gradNorm = optimizer.GradNorm();
            optimizer.Step(lr, AdamW.ClipScale(gradNorm, o.GradClip));
            optimizer.ZeroGrad();

            var r = rewards.detach().cpu();
            var m = margin.detach().cpu();
            double[] stats = [loss.item<float>(), (m > 0).to(ScalarType.Float32).mean().item<float>(), m.mean().item<float>(),
                r[.., 0].mean().item<float>(), r[.., 1].mean().item<float>()];
            recent.Enqueue(stats);
            while (recent.Count > 10) recent.Dequeue();
            state = state with { Step = step + 1 };
            metrics.Append(new MetricRecord { Step = state.Step, Loss = stats[0], Lr = lr, GradNorm = gradNorm, ElapsedSeconds = previousElapsed + clock.Elapsed.TotalSeconds });
            progress?.Report(new DpoProgress(state.Step, o.MaxSteps, stats[0], stats[1], stats[2], stats[3], stats[4], lr));
            if (o.CheckpointEvery > 0 && state.Step % o.CheckpointEvery == 0) { Checkpoint(); lastCheckpoint = state.Step; }
        }

        if (lastCheckpoint != state.Step || checkpoint is null && state.Step == 0) Checkpoint();
        SaveWeights(runDir);
        LossPlot.Write(MetricsLog.Read(metrics.Path), Path.Combine(runDir, LossPlot.FileName));
        double Mean(int k) => recent.Count == 0 ? 0 : recent.Average(s => s[k]);
        return new DpoResult(runDir, o.Method, state.Step, Mean(0), Mean(1), Mean(2), Mean(3), Mean(4),
            trainable.Sum(p => p.Parameter.numel()), previousElapsed + clock.Elapsed.TotalSeconds, stopReason);
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
