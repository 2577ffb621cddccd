using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Substrate.Models;

namespace Substrate.Training.Alignment;

/// <summary>What <see cref="DpoTrainer.Run"/> aligns, and how (the flags of <c>substrate align dpo</c>). The hyperparameters
/// (JSON names) are saved with each checkpoint as <c>dpo_config.json</c>; a resumed run must repeat them.</summary>
public sealed record DpoOptions
{
    public const string ConfigFileName = "dpo_config.json";

    public required string ModelDirectory { get; init; }
    /// <summary>JSONL of {"prompt","chosen","rejected"}.</summary>
    public required string DataPath { get; init; }
    /// <summary>The run folder: the adapter (PEFT) or model (HF), checkpoint/, metrics.jsonl, loss.png.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>"lora": policy = base + a fresh adapter, reference = the same model with the adapter switched off;
    /// "full": every weight trains, reference = a frozen copy of the base.</summary>
    [JsonPropertyName("method")] public string Method { get; init; } = "lora";
    /// <summary>β: the strength of the KL anchor to the reference (implicit reward scale).</summary>
    [JsonPropertyName("beta")] public double Beta { get; init; } = 0.1;
    [JsonPropertyName("lora_r")] public int LoraR { get; init; } = 8;
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 16;
    [JsonPropertyName("target_modules")] public string TargetModules { get; init; } = "q_proj,v_proj";
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 4;
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = 100;
    [JsonPropertyName("lr")] public double Lr { get; init; } = 5e-4;
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 5;
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.999;
    [JsonPropertyName("eps")] public double Eps { get; init; } = 1e-8;
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; }
    /// <summary>Longest prompt + response; longer pairs are cut from the prompt's left.</summary>
    [JsonPropertyName("max_length")] public int MaxLength { get; init; } = 256;
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1337;
    [JsonPropertyName("dtype"), JsonConverter(typeof(ConfigEnumConverter))] public ComputePrecision Dtype { get; init; } = ComputePrecision.Float32;
    [JsonPropertyName("attention"), JsonConverter(typeof(ConfigEnumConverter))]
    public AttentionImplementation Attention { get; init; } = AttentionImplementation.Fused;
    /// <summary>A checkpoint every N steps (and always at the end); 0: only at the end.</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 50;
    /// <summary>Continue the run in <see cref="OutputDirectory"/> from its checkpoint (same hyperparameters and data).</summary>
    public bool Resume { get; init; }
    /// <summary>Stop cleanly, with a checkpoint, after this long.</summary>
    public TimeSpan? TimeLimit { get; init; }
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    /// <summary>Under mpirun: split the trainable parameters' AdamW moments over the ranks (ZeRO stage 1, <c>--shard-optimizer</c>), as
    /// <see cref="PretrainOptions.ShardOptimizer"/> does; a runtime choice, not a hyperparameter (a run resumes with or without it).</summary>
    public bool ShardOptimizer { get; init; }

    public void Validate()
    {
        if (Method is not ("lora" or "full")) throw new ArgumentException($"--method must be lora or full, got '{Method}'");
        if (Beta <= 0) throw new ArgumentException($"beta must be positive, got {Beta}");
        if (Method == "lora" && LoraR <= 0) throw new ArgumentException($"LoRA rank must be positive, got {LoraR}");
        if (BatchSize <= 0 || MaxSteps <= 0 || Lr <= 0 || MaxLength < 2)
            throw new ArgumentException("batch size, steps, lr must be positive and max length ≥ 2");
        if (CheckpointEvery < 0) throw new ArgumentException($"checkpoint every must be ≥ 0, got {CheckpointEvery}");
        if (WeightDecay < 0 || Eps <= 0 || GradClip < 0) throw new ArgumentException("weight decay and grad clip must be ≥ 0, eps positive");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1) throw new ArgumentException("beta1 and beta2 must lie in [0, 1)");
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Converters = { new ConfigEnumConverter() } };

    [JsonIgnore] public TrainingRuntime Runtime => new(Device, Threads);
    [JsonIgnore] public AdamWOptions AdamW => new(Beta1, Beta2, Eps, WeightDecay);

    /// <summary>The hyperparameters (the properties with a JSON name; paths and runtime choices are left out).</summary>
    public string ToJson()
    {
        var config = new JsonObject();
        foreach (var p in typeof(DpoOptions).GetProperties())
            if (p.GetCustomAttribute<JsonPropertyNameAttribute>() is { } name)
                config[name.Name] = JsonSerializer.SerializeToNode(p.GetValue(this), p.PropertyType, Indented);
        return config.ToJsonString(Indented) + "\n";
    }

    /// <summary>On resume: the hyperparameters that differ from the run's saved <paramref name="savedJson"/>, as
    /// "key: saved → now" (empty when they all match).</summary>
    public List<string> DifferencesFrom(string savedJson)
    {
        var saved = JsonNode.Parse(savedJson)!.AsObject();
        var now = JsonNode.Parse(ToJson())!.AsObject();
        return now.Where(p => !JsonNode.DeepEquals(p.Value, saved[p.Key]))
            .Select(p => $"{p.Key}: {saved[p.Key]?.ToJsonString() ?? "(none)"} → {p.Value?.ToJsonString()}").ToList();
    }
}

/// <summary>How an alignment run ended: the last DPO loss, reward accuracy and margin (means over the last steps). Ranks: under mpirun,
/// what each rank kept (the sharded moments) and its peak memory, for the log; empty for one process.</summary>
public sealed record DpoResult(string OutputDirectory, string Method, int Steps, double Loss, double RewardAccuracy, double RewardMargin,
    double ChosenReward, double RejectedReward, long TrainableParameters, double TrainSeconds, string StopReason, string Ranks = "");

/// <summary>One step's report.</summary>
public sealed record DpoProgress(
    int Step, int MaxSteps, double Loss, double RewardAccuracy, double RewardMargin, double ChosenReward, double RejectedReward, double Lr);
