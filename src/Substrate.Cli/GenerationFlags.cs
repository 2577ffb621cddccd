using System.CommandLine;
using Substrate.Inference;

namespace Substrate.Cli;

/// <summary>Sampling flags shared by generate and chat. A flag given wins; one not given takes the model folder's
/// setting (<see cref="GenerationDefaults"/>: generation_config.json, else Hugging Face's defaults — greedy).</summary>
public sealed class GenerationFlags
{
    public const int DefaultMaxTokens = 128;

    public readonly Option<int?> MaxTokens = new("--max-tokens")
        { Description = $"At most this many new tokens (default: generation_config.json's max_new_tokens, else {DefaultMaxTokens})." };
    public readonly Option<double?> Temperature = new("--temperature")
        { Description = "0 is greedy (argmax) and deterministic; > 0 samples (default: the model's generation_config.json, else greedy)." };
    public readonly Option<int?> TopK = new("--top-k") { Description = "Sample among the K most likely tokens, 0: off (default: the model's, else 50)." };
    public readonly Option<double?> TopP = new("--top-p") { Description = "Nucleus sampling threshold, 1: off (default: the model's, else 1)." };
    public readonly Option<double?> RepetitionPenalty = new("--repetition-penalty")
        { Description = "Penalty on tokens already seen, 1: off (default: the model's, else 1)." };
    public readonly Option<long?> Seed = new("--seed") { Description = "Seed for sampling (default: random)." };
    public readonly Option<string> Decoder = new("--decoder")
    {
        Description = "auto: the fast CPU decoder where it can run the model (CPU, no adapter), else TorchSharp; "
            + "torch: always TorchSharp (the reference); fast: the CPU decoder or an error.",
        DefaultValueFactory = _ => "auto",
    };
    public readonly Option<string[]> Stop = new("--stop") { Description = "Stop at this string (repeatable).", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { MaxTokens, Temperature, TopK, TopP, RepetitionPenalty, Seed, Decoder, Stop })
            command.Options.Add(option);
    }

    /// <summary>The model's settings with the flags given on top; validated.</summary>
    public GenerationOptions Read(ParseResult parsed, GenerationDefaults model)
    {
        var defaults = model.ToOptions(DefaultMaxTokens);
        var options = defaults with
        {
            MaxTokens = parsed.GetValue(MaxTokens) ?? defaults.MaxTokens,
            Temperature = parsed.GetValue(Temperature) ?? defaults.Temperature,
            TopK = parsed.GetValue(TopK) ?? defaults.TopK,
            TopP = parsed.GetValue(TopP) ?? defaults.TopP,
            RepetitionPenalty = parsed.GetValue(RepetitionPenalty) ?? defaults.RepetitionPenalty,
            Seed = parsed.GetValue(Seed),
            StopStrings = parsed.GetValue(Stop) ?? [],
            Decoder = parsed.GetValue(Decoder) switch
            {
                "torch" => DecoderImplementation.Torch,
                "fast" => DecoderImplementation.Fast,
                "auto" => DecoderImplementation.Auto,
                var other => throw new ArgumentException($"--decoder must be auto, torch or fast (got '{other}')"),
            },
        };
        options.Validate();
        return options;
    }

    /// <summary>One line for stderr: the settings generation runs with, where they came from, and the flags that changed them.</summary>
    public string Describe(ParseResult parsed, GenerationOptions options, GenerationDefaults model)
    {
        var given = new Option[] { MaxTokens, Temperature, TopK, TopP, RepetitionPenalty }
            .Where(o => parsed.GetResult(o) is not null).Select(o => o.Name).ToList();
        var sampling = options.Temperature == 0 ? "greedy (temperature 0)"
            : FormattableString.Invariant($"temperature {options.Temperature}, top_k {options.TopK}, top_p {options.TopP}");
        var stops = options.StopTokenIds.Count > 0 ? $", eos ids [{string.Join(", ", options.StopTokenIds)}]" : "";
        return FormattableString.Invariant($"settings: {sampling}, repetition_penalty {options.RepetitionPenalty}, max_tokens {options.MaxTokens}")
            + stops + $" (from {model.Source}" + (given.Count > 0 ? $"; flags {string.Join(", ", given)})" : ")");
    }

    /// <summary>Loads a model the way generate and chat do: its generation_config.json under the flags given, the process
    /// runtime applied, and the effective settings said on stderr after the model loads (so bad input stays one error line).</summary>
    public (LoadedModel Loaded, GenerationOptions Options) Load(ParseResult parsed, ModelOptionFlags runtime, string folder, string? adapter,
        string verb)
    {
        var defaults = GenerationDefaults.Load(folder);
        var options = Read(parsed, defaults);
        var modelOptions = runtime.StartInference(parsed, folder);
        var loaded = LoadedModel.Load(folder, modelOptions, adapter);
        Console.Error.WriteLine($"{verb}: {Describe(parsed, options, defaults)}");
        Console.Error.WriteLine($"{verb}: {runtime.Describe(parsed, modelOptions)}");
        return (loaded, options);
    }
}
