using Substrate.Inference.Serving;

namespace Substrate.Inference;

/// <summary>Which implementation runs batch-1 decoding with the KV cache.</summary>
public enum DecoderImplementation
{
    /// <summary><see cref="CpuDecoder"/> where it can run the model (CPU, no LoRA adapter), else TorchSharp.</summary>
    Auto,
    /// <summary>The TorchSharp model's forward: the reference path.</summary>
    Torch,
    /// <summary><see cref="CpuDecoder"/>; an error where it cannot run the model.</summary>
    Fast,
}

/// <summary>How to continue a prompt. Defaults follow Hugging Face's <c>generate</c> where it has one; a model folder's
/// own settings come from <see cref="GenerationDefaults"/>.</summary>
public sealed record GenerationOptions
{
    /// <summary>At most this many new tokens (fewer on EOS, a stop string, or the end of the context).</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>Softmax temperature; 0 = greedy (argmax), deterministic.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Sample among the K most likely tokens only; 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling: the smallest set of most likely tokens whose probability reaches P; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>CTRL-style penalty on every token already in the prompt or the output: logits &gt; 0 are divided by it,
    /// logits &lt; 0 multiplied; 1 = off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>Added to the logits of these token ids before sampling (greedy too), after the repetition penalty; each in
    /// [-<see cref="MaxLogitBias"/>, <see cref="MaxLogitBias"/>]: +100 all but forces a token, -100 all but forbids it.</summary>
    public IReadOnlyDictionary<int, double> LogitBias { get; init; } = new Dictionary<int, double>();

    public const double MaxLogitBias = 100;

    /// <summary>Seeds the sampler's generator; null = a fresh random seed.</summary>
    public long? Seed { get; init; }

    /// <summary>Ids that end generation besides the tokenizer's and config.json's EOS (generation_config.json's
    /// eos_token_id); not part of the output.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>Generation stops at the first of these strings, which is not part of the output.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Keep keys/values of past positions (one new position per step) instead of re-running the whole sequence.</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Which decoder runs generation with the cache (<see cref="DecoderImplementation.Auto"/>: the fast CPU one where it can).</summary>
    public DecoderImplementation Decoder { get; init; } = DecoderImplementation.Auto;

    public void Validate()
    {
        if (MaxTokens < 0) throw new ArgumentException($"MaxTokens must be ≥ 0 (got {MaxTokens})");
        if (Temperature < 0 || double.IsNaN(Temperature)) throw new ArgumentException($"Temperature must be ≥ 0 (got {Temperature})");
        if (TopK < 0) throw new ArgumentException($"TopK must be ≥ 0 (got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"TopP must be in (0, 1] (got {TopP})");
        if (!(RepetitionPenalty > 0)) throw new ArgumentException($"RepetitionPenalty must be > 0 (got {RepetitionPenalty})");
        if (Decoder == DecoderImplementation.Fast && !UseCache) throw new ArgumentException("Decoder = Fast needs UseCache = true");
        if (StopStrings.Any(string.IsNullOrEmpty)) throw new ArgumentException("StopStrings must not contain empty strings");
        foreach (var (id, bias) in LogitBias)
            if (id < 0 || !(Math.Abs(bias) <= MaxLogitBias))
                throw new ArgumentException($"LogitBias: token {id} must be ≥ 0 and its bias in [-{MaxLogitBias}, {MaxLogitBias}] (got {bias})");
    }

    /// <summary><see cref="Validate()"/>, and every <see cref="LogitBias"/> id inside the vocabulary [0, vocabSize).</summary>
    public void Validate(int vocabSize)
    {
        Validate();
        foreach (var id in LogitBias.Keys)
            if (id >= vocabSize) throw new LogitBiasOutOfVocabularyException(id, vocabSize);
    }
}
