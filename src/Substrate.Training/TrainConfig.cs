using System.Text.Json.Serialization;
using Substrate.Models;

namespace Substrate.Training;

/// <summary>
/// The training hyperparameters of a pretraining run; property names are the keys of
/// <c>train_config.json</c> and of <c>--set key=value</c>. Immutable; see <see cref="PretrainConfig"/>.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>Sequences per micro-step (B).</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 8;
    /// <summary>Tokens per sequence (T).</summary>
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; } = 256;
    /// <summary>Micro-steps whose gradients are summed into one optimizer step.</summary>
    [JsonPropertyName("grad_accum_steps")] public int GradAccumSteps { get; init; } = 1;
    /// <summary>Optimizer steps of the whole run; the LR schedule ends here.</summary>
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = 1000;
    [JsonPropertyName("lr")] public double Lr { get; init; } = 1e-3;
    /// <summary>The cosine decay ends at this LR.</summary>
    [JsonPropertyName("min_lr")] public double MinLr { get; init; } = 1e-4;
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 50;
    /// <summary>Decoupled weight decay (AdamW) on matrices; norms and embeddings get none.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.95;
    [JsonPropertyName("eps")] public double Eps { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip; 0 turns clipping off.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    /// <summary>Validation loss every N steps (and at the end); 0: only at the end.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; } = 100;
    /// <summary>Fixed validation batches (the split's first windows, in order) per evaluation.</summary>
    [JsonPropertyName("eval_batches")] public int EvalBatches { get; init; } = 8;
    /// <summary>A checkpoint every N steps (and at the end); 0: only at the end.</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 200;
    /// <summary>Seeds the model's initialization and the data order.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1337;
    /// <summary>"bfloat16" (mixed precision: fp32 master weights, bf16 matmuls) or "float32".</summary>
    [JsonPropertyName("dtype"), JsonConverter(typeof(ConfigEnumConverter))] public ComputePrecision Dtype { get; init; } = ComputePrecision.BFloat16;
    /// <summary>"eager" (the model's reference attention; on CPU the faster one to train: bench-12m
    /// fwd+bwd ~15% less CPU time) or "fused" (scaled_dot_product_attention).</summary>
    [JsonPropertyName("attention"), JsonConverter(typeof(ConfigEnumConverter))]
    public AttentionImplementation Attention { get; init; } = AttentionImplementation.Eager;

    [JsonIgnore] public long TokensPerStep => (long)BatchSize * SeqLen * GradAccumSteps;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad key.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: {message}"); }
        Check(BatchSize > 0, $"batch_size must be positive (got {BatchSize})");
        Check(SeqLen > 0, $"seq_len must be positive (got {SeqLen})");
        Check(GradAccumSteps > 0, $"grad_accum_steps must be positive (got {GradAccumSteps})");
        Check(MaxSteps > 0, $"max_steps must be positive (got {MaxSteps})");
        Check(Lr > 0, $"lr must be positive (got {Lr})");
        Check(MinLr >= 0 && MinLr <= Lr, $"min_lr must lie in [0, lr] (got {MinLr})");
        Check(WarmupSteps >= 0, $"warmup_steps must be ≥ 0 (got {WarmupSteps})");
        Check(WeightDecay >= 0, $"weight_decay must be ≥ 0 (got {WeightDecay})");
        Check(Beta1 is >= 0 and < 1, $"beta1 must lie in [0, 1) (got {Beta1})");
        Check(Beta2 is >= 0 and < 1, $"beta2 must lie in [0, 1) (got {Beta2})");
        Check(Eps > 0, $"eps must be positive (got {Eps})");
        Check(GradClip >= 0, $"grad_clip must be ≥ 0 (got {GradClip})");
        Check(EvalEvery >= 0 && EvalBatches >= 0, "eval_every and eval_batches must be ≥ 0");
        Check(CheckpointEvery >= 0, $"checkpoint_every must be ≥ 0 (got {CheckpointEvery})");
    }
}
