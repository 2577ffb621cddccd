using Substrate.Models;

namespace Substrate.Inference;

/// <summary>
/// The decoding settings a model folder asks for, with Hugging Face's meaning: the keys of its
/// <c>generation_config.json</c>, and Hugging Face's own defaults for the keys it lacks (or when there is no file):
/// do_sample false (greedy), temperature 1.0, top_k 50, top_p 1.0, repetition_penalty 1.0. So a model decodes the same
/// here as in transformers' <c>generate</c>. Whoever builds <see cref="GenerationOptions"/> starts from these and lets
/// what the caller says explicitly win.
/// </summary>
public sealed record GenerationDefaults
{
    /// <summary>Hugging Face's defaults: greedy, nothing penalised.</summary>
    public static GenerationDefaults HuggingFace { get; } = new();

    /// <summary>Sample (true) or take the argmax (false).</summary>
    public bool DoSample { get; init; }
    /// <summary>The temperature when sampling.</summary>
    public double Temperature { get; init; } = 1.0;
    public int TopK { get; init; } = 50;
    public double TopP { get; init; } = 1.0;
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>The model's cap on new tokens; null = the caller's own default.</summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>Ids that end generation (generation_config.json's eos_token_id, one or several).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>Where these came from: the file's path, or "Hugging Face defaults".</summary>
    public string Source { get; init; } = "Hugging Face defaults";

    /// <summary>The folder's generation_config.json read with Hugging Face's defaults for absent keys (no folder: the defaults).</summary>
    public static GenerationDefaults Load(string modelDirectory) =>
        modelDirectory.Length > 0 && GenerationConfig.Read(modelDirectory) is { } config
            ? From(config, Path.Combine(modelDirectory, GenerationConfig.FileName))
            : HuggingFace;

    public static GenerationDefaults From(GenerationConfig config, string source) => new()
    {
        DoSample = config.DoSample ?? HuggingFace.DoSample,
        Temperature = config.Temperature ?? HuggingFace.Temperature,
        TopK = config.TopK ?? HuggingFace.TopK,
        TopP = config.TopP ?? HuggingFace.TopP,
        RepetitionPenalty = config.RepetitionPenalty ?? HuggingFace.RepetitionPenalty,
        MaxNewTokens = config.MaxNewTokens,
        EosTokenIds = config.EosTokenIds ?? [],
        Source = source,
    };

    /// <summary>The temperature these settings decode with: 0 (argmax) unless <see cref="DoSample"/>.</summary>
    public double EffectiveTemperature => DoSample ? Temperature : 0;

    /// <summary>As options: greedy unless sampling, at most <see cref="MaxNewTokens"/> (else <paramref name="maxTokens"/>)
    /// new tokens, ending also at <see cref="EosTokenIds"/>.</summary>
    public GenerationOptions ToOptions(int maxTokens) => new()
    {
        MaxTokens = MaxNewTokens ?? maxTokens, Temperature = EffectiveTemperature, TopK = TopK, TopP = TopP,
        RepetitionPenalty = RepetitionPenalty, StopTokenIds = EosTokenIds,
    };
}
