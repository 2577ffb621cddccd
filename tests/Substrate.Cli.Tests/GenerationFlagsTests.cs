using System.CommandLine;
using Substrate.Inference;

namespace Substrate.Cli.Tests;

/// <summary>generate/chat settings: the model's generation_config.json (Hugging Face's defaults without one), flags on top.</summary>
public class GenerationFlagsTests
{
    private static (GenerationOptions Options, string Line) Read(string? generationConfig, params string[] args)
    {
        var dir = Directory.CreateTempSubdirectory("substrate-flags-").FullName;
        if (generationConfig is not null) File.WriteAllText(Path.Combine(dir, "generation_config.json"), generationConfig);
        var flags = new GenerationFlags();
        var command = new Command("generate");
        flags.AddTo(command);
        var parsed = command.Parse(args);
        var model = GenerationDefaults.Load(dir);
        var options = flags.Read(parsed, model);
        return (options, flags.Describe(parsed, options, model));
    }

    [Fact]
    public void Without_a_generation_config_the_defaults_are_hugging_faces_greedy()
    {
        var (options, line) = Read(null);
        Assert.Equal((128, 0.0, 1.0), (options.MaxTokens, options.Temperature, options.RepetitionPenalty));
        Assert.Equal("settings: greedy (temperature 0), repetition_penalty 1, max_tokens 128 (from Hugging Face defaults)", line);

        var (sampled, sampledLine) = Read(null, "--temperature", "0.5");
        Assert.Equal((0.5, 50, 1.0, 1.0), (sampled.Temperature, sampled.TopK, sampled.TopP, sampled.RepetitionPenalty));
        Assert.EndsWith("(from Hugging Face defaults; flags --temperature)", sampledLine);
    }

    [Fact]
    public void The_folders_settings_apply_and_flags_given_win()
    {
        const string config = """
            {"do_sample": true, "temperature": 0.6, "top_p": 0.9, "repetition_penalty": 1.3, "max_new_tokens": 20, "eos_token_id": [7, 8]}
            """;
        var (options, line) = Read(config);
        Assert.Equal((20, 0.6, 50, 0.9, 1.3), (options.MaxTokens, options.Temperature, options.TopK, options.TopP, options.RepetitionPenalty));
        Assert.Equal([7, 8], options.StopTokenIds);
        Assert.StartsWith("settings: temperature 0.6, top_k 50, top_p 0.9, repetition_penalty 1.3, max_tokens 20, eos ids [7, 8] (from /", line);

        var (greedy, _) = Read(config, "--temperature", "0", "--repetition-penalty", "1", "--max-tokens", "5");
        Assert.Equal((5, 0.0, 1.0), (greedy.MaxTokens, greedy.Temperature, greedy.RepetitionPenalty));
    }
}
