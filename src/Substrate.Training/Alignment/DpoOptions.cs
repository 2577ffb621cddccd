namespace Substrate.Training.Alignment;

/// <summary>What <see cref="DpoTrainer.Run"/> aligns, and how (the flags of <c>substrate align dpo</c>).</summary>
public sealed record DpoOptions
{
    public required string ModelDirectory { get; init; }
    /// <summary>JSONL of {"prompt","chosen","rejected"}.</summary>
    public required string DataPath { get; init; }
    /// <summary>The adapter (PEFT) or model (HF) folder to write, with metrics.jsonl and loss.png.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>"lora": policy = base + a fresh adapter, reference = the same model with the adapter switched off;
    /// "full": every weight trains, reference = a frozen copy of the base.</summary>
    public string Method { get; init; } = "lora";
    /// <summary>β: the strength of the KL anchor to the reference (implicit reward scale).</summary>
    public double Beta { get; init; } = 0.1;
    public int LoraR { get; init; } = 8;
    public double LoraAlpha { get; init; } = 16;
    public string TargetModules { get; init; } = "q_proj,v_proj";
    public int BatchSize { get; init; } = 4;
    public int MaxSteps { get; init; } = 100;
    public double Lr { get; init; } = 5e-4;
    public int WarmupSteps { get; init; } = 5;
    public double GradClip { get; init; } = 1.0;
    /// <summary>Longest prompt + response; longer pairs are cut from the prompt's left.</summary>
    public int MaxLength { get; init; } = 256;
    public long Seed { get; init; } = 1337;
    public string Dtype { get; init; } = "float32";
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }

    public void Validate()
    {
        if (Method is not ("lora" or "full")) throw new ArgumentException($"--method must be lora or full, got '{Method}'");
        if (Beta <= 0) throw new ArgumentException($"beta must be positive, got {Beta}");
        if (Method == "lora" && LoraR <= 0) throw new ArgumentException($"LoRA rank must be positive, got {LoraR}");
        if (BatchSize <= 0 || MaxSteps <= 0 || Lr <= 0 || MaxLength < 2) throw new ArgumentException("batch size, steps, lr must be positive and max length ≥ 2");
        if (Dtype is not ("float32" or "bfloat16")) throw new ArgumentException($"dtype must be float32 or bfloat16, got '{Dtype}'");
    }
}

/// <summary>How an alignment run ended: the last DPO loss, reward accuracy and margin (means over the last steps).</summary>
public sealed record DpoResult(string OutputDirectory, string Method, int Steps, double Loss, double RewardAccuracy, double RewardMargin,
    double ChosenReward, double RejectedReward, long TrainableParameters, double TrainSeconds);

/// <summary>One step's report.</summary>
public sealed record DpoProgress(int Step, int MaxSteps, double Loss, double RewardAccuracy, double RewardMargin, double ChosenReward, double RejectedReward, double Lr);
