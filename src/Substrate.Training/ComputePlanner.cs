using System.Diagnostics;
using Substrate.Models;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>One candidate shape with its measured training throughput.</summary>
public sealed record CandidateMeasurement(string Name, long Parameters, double TokensPerSecond, long Tokens, double TokensPerParameter)
{
    /// <summary>One aligned line: name, size, speed and the tokens per parameter the budget would give it.</summary>
    public string Summary => $"{Name,-9} {Parameters / 1e6,6:F2}M params {TokensPerSecond,8:N0} tok/s → {TokensPerParameter,6:F1} tokens/param";
}

/// <summary>
/// A compute-optimal proposal for a time budget: the model, how many tokens it can see in the
/// budget at this machine's measured speed, and the step count at the given batch shape.
/// </summary>
public sealed record ComputePlan(
    string Name,
    ModelConfig Model,
    long Parameters,
    double TokensPerSecond,
    long TokenBudget,
    int Steps,
    int BatchSize,
    int SeqLen,
    double TokensPerParameter,
    IReadOnlyList<CandidateMeasurement> Measured,
    string Reason)
{
    /// <summary>One line: the choice, its size, speed, token budget and steps.</summary>
    public string Summary => $"{Name}: {Parameters / 1e6:F2}M parameters, {TokensPerSecond:N0} tokens/s, token budget {TokenBudget:N0}, "
        + $"{Steps:N0} steps, {TokensPerParameter:F1} tokens/param";

    /// <summary>Warm-up: a twentieth of the steps, within [1, 200].</summary>
    public int WarmupSteps => Math.Clamp(Steps / 20, 1, 200);

    /// <summary>The plan applied to training hyperparameters: batch shape, steps and warm-up.</summary>
    public TrainConfig ApplyTo(TrainConfig train) => train with { BatchSize = BatchSize, SeqLen = SeqLen, MaxSteps = Steps, WarmupSteps = WarmupSteps };

    /// <summary>The plan as <c>--set</c> overrides for the command line of <c>substrate pretrain</c> (model shape, steps, batch).</summary>
    public IReadOnlyList<string> Overrides =>
    [
        $"hidden_size={Model.HiddenSize}", $"num_hidden_layers={Model.NumHiddenLayers}", $"num_attention_heads={Model.NumAttentionHeads}",
        $"num_key_value_heads={Model.NumKeyValueHeads}", $"intermediate_size={Model.IntermediateSize}",
        $"max_position_embeddings={Model.MaxPositionEmbeddings}", $"batch_size={BatchSize}", $"seq_len={SeqLen}",
        $"max_steps={Steps}", $"warmup_steps={WarmupSteps}",
    ];
}

/// <summary>
/// Compute-optimal sizing (Chinchilla: ~20 training tokens per parameter). From the measured
/// tokens/s of each candidate shape, a budget of t seconds lets candidate i see D_i = tps_i · t
/// tokens; the plan is the largest candidate with D_i ≥ 20·N_i (the smallest when none is).
/// Candidates are measured smallest first, stopping at the first one that misses the ratio.
/// </summary>
public static class ComputePlanner
{
    public const double ChinchillaTokensPerParameter = 20;

    /// <summary>A family of Llama shapes from ~0.1M to ~40M non-embedding parameters (head width 32–64, SwiGLU width ≈ 8/3·d).</summary>
    public static IReadOnlyList<(string Name, ModelConfig Config)> Family(int vocabSize, int maxPositions = 1024)
    {
        (int D, int L, int H, int Kv)[] shapes =
        [
            (64, 2, 2, 1), (96, 3, 3, 1), (128, 4, 4, 2), (192, 4, 4, 2), (256, 6, 4, 2),
            (384, 6, 6, 2), (512, 8, 8, 4), (640, 10, 10, 5), (768, 12, 12, 4),
        ];
        return shapes.Select(s => ($"d{s.D}-l{s.L}", ModelPresets.Get("tiny") with
        {
            VocabSize = vocabSize, HiddenSize = s.D, NumHiddenLayers = s.L, NumAttentionHeads = s.H, NumKeyValueHeads = s.Kv,
            IntermediateSize = (s.D * 8 / 3 + 31) / 32 * 32, MaxPositionEmbeddings = maxPositions,
        })).ToList();
    }

    /// <summary>Plans from any throughput measure (tokens/s for a config); see the class summary for the rule.</summary>
    public static ComputePlan Plan(TimeSpan budget, IReadOnlyList<(string Name, ModelConfig Config)> candidates,
        Func<ModelConfig, double> measureTokensPerSecond, int batchSize = 8, int seqLen = 256)
    {
        if (candidates.Count == 0) throw new ArgumentException("no candidate shapes");
        if (budget <= TimeSpan.Zero) throw new ArgumentException("the time budget must be positive");
        var ordered = candidates.OrderBy(c => ModelFlops.Parameters(c.Config)).ToList();
        var measured = new List<CandidateMeasurement>();
        int chosen = 0;
        for (int i = 0; i < ordered.Count; i++)
        {
            var (name, config) = ordered[i];
            double tps = measureTokensPerSecond(config);
            long parameters = ModelFlops.Parameters(config), tokens = (long)(tps * budget.TotalSeconds);
            var m = new CandidateMeasurement(name, parameters, tps, tokens, (double)tokens / parameters);
            measured.Add(m);
            if (m.TokensPerParameter < ChinchillaTokensPerParameter) break;
            chosen = i;
        }
        var pick = measured[chosen];
        string reason = pick.TokensPerParameter >= ChinchillaTokensPerParameter
            ? $"largest candidate that sees ≥ {ChinchillaTokensPerParameter} tokens per parameter in {budget}: {pick.TokensPerParameter:F1}"
            : $"even the smallest candidate sees only {pick.TokensPerParameter:F1} tokens per parameter in {budget} (under-trained)";
        long tokensPerStep = (long)batchSize * seqLen;
        int steps = (int)Math.Max(1, Math.Min(int.MaxValue, pick.Tokens / tokensPerStep));
        var model = ordered[chosen].Config with { MaxPositionEmbeddings = Math.Max(ordered[chosen].Config.MaxPositionEmbeddings, seqLen) };
        return new ComputePlan(pick.Name, model, pick.Parameters, pick.TokensPerSecond, steps * tokensPerStep, steps,
            batchSize, seqLen, (double)steps * tokensPerStep / pick.Parameters, measured, reason);
    }

    /// <summary>Plans with this machine's throughput: each candidate is timed for a few training steps on random tokens,
    /// with the thread count pretraining will use (libtorch's own default can be half the cores).</summary>
    public static ComputePlan PlanForThisMachine(TimeSpan budget, int vocabSize, int batchSize = 8, int seqLen = 256,
        ScalarType computeDtype = ScalarType.BFloat16, IProgress<CandidateMeasurement>? progress = null, int threads = 0)
    {
        ProcessRuntime.Configure(new RuntimeSettings(threads)); // as pretraining will run
        var family = Family(vocabSize, Math.Max(seqLen, 256));
        // A process's first measurement runs cold (JIT, thread pools, allocator growth) and read ~25% low (d64-l2:
        // 47k vs 56–63k tokens/s after), so the plan left a third of the budget unused: warm up once, untimed.
        MeasureTokensPerSecond(family[0].Config, batchSize, seqLen, computeDtype, steps: 3);
        return Plan(budget, family, config =>
        {
            double tps = MeasureTokensPerSecond(config, batchSize, seqLen, computeDtype);
            long parameters = ModelFlops.Parameters(config);
            progress?.Report(new CandidateMeasurement($"d{config.HiddenSize}-l{config.NumHiddenLayers}", parameters, tps,
                (long)(tps * budget.TotalSeconds), tps * budget.TotalSeconds / parameters));
            return tps;
        }, batchSize, seqLen);
    }

    /// <summary>Training tokens/s of a config: up to <paramref name="warmup"/> untimed steps (at most
    /// <paramref name="warmupSeconds"/>, at least 2), then the median of <paramref name="steps"/> timed ones.</summary>
    public static double MeasureTokensPerSecond(ModelConfig config, int batchSize, int seqLen,
        ScalarType computeDtype = ScalarType.BFloat16, int steps = 10, int warmup = 30, double warmupSeconds = 1.5)
    {
        var rng = get_rng_state();
        try
        {
            manual_seed(0);
            using var model = new LlamaForCausalLM(config with { MaxPositionEmbeddings = Math.Max(config.MaxPositionEmbeddings, seqLen) },
                new ModelOptions { ComputeDtype = computeDtype, Attention = AttentionImplementation.Eager });
            model.train();
            using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
            using var step = new TrainStep(model, optimizer, batchSize, seqLen, 1, 1.0);
            var random = new Random(0);
            void Fill(int micro, Span<long> x, Span<long> y)
            {
                for (int i = 0; i < x.Length; i++) { x[i] = random.Next(config.VocabSize); y[i] = random.Next(config.VocabSize); }
            }
            // Throughput settles only after a few dozen steps (allocator and kernel caches): warm up by
            // count, bounded in time so large candidates don't pay for it.
            var warming = Stopwatch.StartNew();
            for (int i = 0; i < warmup && (i < 2 || warming.Elapsed.TotalSeconds < warmupSeconds); i++) step.Run(1e-4, Fill);
            var times = new List<double>();
            for (int i = 0; i < steps; i++)
            {
                var clock = Stopwatch.StartNew();
                step.Run(1e-4, Fill);
                times.Add(clock.Elapsed.TotalSeconds);
            }
            return batchSize * seqLen / times.Order().ElementAt(times.Count / 2);
        }
        finally
        {
            set_rng_state(rng);
            rng.Dispose();
        }
    }
}
