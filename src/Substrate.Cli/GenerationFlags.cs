using System.CommandLine;
using Substrate.Inference;

namespace Substrate.Cli;

/// <summary>Sampling flags shared by generate and chat.</summary>
public sealed class GenerationFlags
{
    public readonly Option<int> MaxTokens = new("--max-tokens") { Description = "At most this many new tokens.", DefaultValueFactory = _ => 128 };
    public readonly Option<double> Temperature = new("--temperature") { Description = "0 is greedy and deterministic.", DefaultValueFactory = _ => 0.8 };
    public readonly Option<int> TopK = new("--top-k") { Description = "Sample among the K most likely tokens (0: off).", DefaultValueFactory = _ => 40 };
    public readonly Option<double> TopP = new("--top-p") { Description = "Nucleus sampling threshold (1: off).", DefaultValueFactory = _ => 0.95 };
    public readonly Option<double> RepetitionPenalty = new("--repetition-penalty") { Description = "Penalty on tokens already seen (1: off).", DefaultValueFactory = _ => 1.1 };
    public readonly Option<long?> Seed = new("--seed") { Description = "Seed for sampling (default: random)." };
    public readonly Option<string> Decoder = new("--decoder")
    {
        Description = "auto: the fast CPU decoder where it can run the model (CPU, no adapter), else TorchSharp; torch: always TorchSharp (the reference); fast: the CPU decoder or an error.",
        DefaultValueFactory = _ => "auto",
    };
    public readonly Option<string[]> Stop = new("--stop") { Description = "Stop at this string (repeatable).", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { MaxTokens, Temperature, TopK, TopP, RepetitionPenalty, Seed, Decoder, Stop })
            command.Options.Add(option);
    }

    public GenerationOptions Read(ParseResult parsed)
    {
        var options = new GenerationOptions
        {
            MaxTokens = parsed.GetValue(MaxTokens), Temperature = parsed.GetValue(Temperature), TopK = parsed.GetValue(TopK),
            TopP = parsed.GetValue(TopP), RepetitionPenalty = parsed.GetValue(RepetitionPenalty), Seed = parsed.GetValue(Seed),
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
}
