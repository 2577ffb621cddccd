using System.Text.Json;
using System.Text.Json.Serialization;
using Substrate.Models;
using Substrate.Nn.Quantized;

namespace Substrate.Training.Finetuning;

/// <summary>
/// The hyperparameters of a fine-tuning run (full weights or LoRA); property names are the keys of
/// <c>finetune_config.json</c> and of <c>--set key=value</c>. Defaults suit small models on a CPU.
/// </summary>
public sealed record FinetuneConfig
{
    public const string FileName = "finetune_config.json";

    /// <summary>"lora" (frozen base, trainable low-rank adapters) or "full" (every weight).</summary>
    [JsonPropertyName("method")] public string Method { get; init; } = "lora";
    [JsonPropertyName("lora_r")] public int LoraR { get; init; } = 8;
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 16;
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; } = 0.05;
    /// <summary>"q_proj,v_proj", "all-linear", …</summary>
    [JsonPropertyName("target_modules")] public string TargetModules { get; init; } = "q_proj,v_proj";
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 8;
    /// <summary>Tokens per packed row (T); at most the model's max_position_embeddings.</summary>
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; } = 256;
    [JsonPropertyName("grad_accum_steps")] public int GradAccumSteps { get; init; } = 1;
    /// <summary>Passes over the training rows; sets max_steps when max_steps is 0.</summary>
    [JsonPropertyName("epochs")] public double Epochs { get; init; } = 3;
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; }
    /// <summary>Default 2e-4 for LoRA; use ~2e-5…1e-4 for full fine-tuning.</summary>
    [JsonPropertyName("lr")] public double Lr { get; init; } = 2e-4;
    [JsonPropertyName("min_lr")] public double MinLr { get; init; }
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 10;
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; }
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.999;
    [JsonPropertyName("eps")] public double Eps { get; init; } = 1e-8;
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    /// <summary>Share of the records held out for validation (when no validation file is given).</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; } = 0.1;
    /// <summary>Validation every N steps (and at the end); 0: only at the end.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; } = 20;
    /// <summary>Stop after this many validations without a new best; 0: never stop early.</summary>
    [JsonPropertyName("patience")] public int Patience { get; init; } = 3;
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 50;
    /// <summary>Pack several short examples into one row (loss never crosses examples).</summary>
    [JsonPropertyName("pack")] public bool Pack { get; init; } = true;
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1337;
    [JsonPropertyName("dtype"), JsonConverter(typeof(ConfigEnumConverter))] public ComputePrecision Dtype { get; init; } = ComputePrecision.BFloat16;
    /// <summary>Storage of the frozen base under LoRA: "float32", or "bfloat16" (QLoRA-style: half the base's memory;
    /// the adapter stays fp32). Full fine-tuning keeps fp32 master weights.</summary>
    [JsonPropertyName("base_dtype"), JsonConverter(typeof(ConfigEnumConverter))] public ComputePrecision BaseDtype { get; init; } = ComputePrecision.Float32;
    /// <summary>QLoRA: the frozen base's projections stored as "q4_K", "q8_0" (ggml's blocks) or "nf4" (bitsandbytes' NormalFloat)
    /// and dequantized per product; embeddings and head in the compute dtype, norms fp32. Null or "": a dense base.</summary>
    [JsonPropertyName("base_quant")] public string? BaseQuant { get; init; }
    /// <summary>Activation checkpointing: each decoder layer runs again in backward instead of keeping its intermediates
    /// (<see cref="ModelOptions.GradientCheckpointing"/>): peak memory down by all layers' activations but one, one more forward a step.</summary>
    [JsonPropertyName("gradient_checkpointing")] public bool GradientCheckpointing { get; init; }
    [JsonPropertyName("attention"), JsonConverter(typeof(ConfigEnumConverter))]
    public AttentionImplementation Attention { get; init; } = AttentionImplementation.Fused;

    [JsonIgnore] public bool IsLora => Method == "lora";

    /// <summary>The parsed <see cref="BaseQuant"/>, or null for a dense base.</summary>
    [JsonIgnore] public WeightQuantization? BaseQuantization => string.IsNullOrEmpty(BaseQuant) ? null : WeightQuantizations.Parse(BaseQuant);

    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"config: {message}"); }
        Check(Method is "lora" or "full", $"method must be \"lora\" or \"full\" (got \"{Method}\")");
        Check(!IsLora || LoraR > 0, $"lora_r must be positive (got {LoraR})");
        Check(!IsLora || LoraAlpha > 0, $"lora_alpha must be positive (got {LoraAlpha})");
        Check(LoraDropout is >= 0 and < 1, $"lora_dropout must lie in [0, 1) (got {LoraDropout})");
        Check(BatchSize > 0 && SeqLen > 1 && GradAccumSteps > 0, "batch_size, grad_accum_steps must be positive and seq_len > 1");
        Check(MaxSteps > 0 || Epochs > 0, "set max_steps or epochs");
        Check(Lr > 0 && MinLr >= 0 && MinLr <= Lr, $"need 0 ≤ min_lr ≤ lr, lr > 0 (got lr {Lr}, min_lr {MinLr})");
        Check(WarmupSteps >= 0 && WeightDecay >= 0 && GradClip >= 0 && Eps > 0, "warmup_steps, weight_decay, grad_clip must be ≥ 0 and eps > 0");
        Check(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, "beta1 and beta2 must lie in [0, 1)");
        Check(ValFraction is >= 0 and < 1, $"val_fraction must lie in [0, 1) (got {ValFraction})");
        Check(EvalEvery >= 0 && Patience >= 0 && CheckpointEvery >= 0, "eval_every, patience, checkpoint_every must be ≥ 0");
        Check(BaseDtype == ComputePrecision.Float32 || IsLora, "base_dtype must be \"float32\", or \"bfloat16\" with method lora");
        Check(string.IsNullOrEmpty(BaseQuant) || IsLora,
            $"base_quant {BaseQuant} needs method lora (a quantized base is frozen: it cannot be fully fine-tuned)");
        try { _ = BaseQuantization; }
        catch (ArgumentException ex) { Check(false, $"base_quant: {ex.Message}"); }
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    public static FinetuneConfig Read(string path) =>
        JsonSerializer.Deserialize<FinetuneConfig>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty");

    /// <summary>Applies <c>key=value</c> overrides (<see cref="ConfigResolver.Apply{T}"/>): an unknown key or a value of the wrong
    /// type is an ArgumentException naming it.</summary>
    public FinetuneConfig With(IEnumerable<string> overrides) => ConfigResolver.Apply(this, overrides);

    /// <summary>
    /// On --resume: this (the run's saved config) with <paramref name="overrides"/> applied. Only how a step's global batch is split
    /// may change — batch_size and grad_accum_steps, so a run resumed under another rank count keeps its global batch (N × batch_size
    /// rows; the data position is the step) — and gradient_checkpointing, which trades memory for time with the same results. Any other
    /// key given must repeat the run's value (repeating the first command line is fine).
    /// </summary>
    public FinetuneConfig Resumed(IEnumerable<string> overrides)
    {
        var resumed = With(overrides);
        var (saved, now) = (JsonDocument.Parse(ToJson()).RootElement, JsonDocument.Parse(resumed.ToJson()).RootElement);
        var changed = now.EnumerateObject().Where(p => p.Name is not ("batch_size" or "grad_accum_steps" or "gradient_checkpointing")
            && !JsonElement.DeepEquals(p.Value, saved.GetProperty(p.Name))).Select(p => $"{p.Name}: {saved.GetProperty(p.Name)} → {p.Value}").ToList();
        if (changed.Count > 0)
            throw new ArgumentException($"--resume: --set changes the run's settings ({string.Join("; ", changed)}); only batch_size and "
                + "grad_accum_steps (to keep the global batch under another rank count) and gradient_checkpointing may change when resuming");
        return resumed;
    }
}
