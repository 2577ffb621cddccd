using System.Text.Json;
using Substrate.Inference;
using Substrate.Server.Wire;

namespace Substrate.Server.Tests;

/// <summary>What a request omits: OpenAI's default where OpenAI has one (temperature 1, top_p 1), else the model's
/// generation_config.json (top_k, repetition_penalty, max_new_tokens).</summary>
public class SamplingDefaultsTests
{
    private static readonly GenerationDefaults Model = new()
    {
        DoSample = false, Temperature = 0.3, TopK = 20, TopP = 0.8, RepetitionPenalty = 1.2, MaxNewTokens = 7, EosTokenIds = [3, 4],
    };

    private static GenerationOptions Read(string body, GenerationDefaults model, int context = 64)
    {
        using var doc = JsonDocument.Parse(body);
        return SamplingParameters.Read(RequestReader.Of(doc), context, model);
    }

    [Fact]
    public void Omitted_fields_take_openais_defaults_then_the_models()
    {
        var options = Read("{}", Model);
        Assert.Equal((1.0, 1.0), (options.Temperature, options.TopP)); // OpenAI's, not the model's greedy or 0.8
        Assert.Equal((20, 1.2, 7), (options.TopK, options.RepetitionPenalty, options.MaxTokens));

        var plain = Read("{}", GenerationDefaults.HuggingFace);
        Assert.Equal((1.0, 1.0, 50, 1.0, 64), (plain.Temperature, plain.TopP, plain.TopK, plain.RepetitionPenalty, plain.MaxTokens));
    }

    [Fact]
    public void The_defaults_are_said_in_one_line()
    {
        Assert.Equal("request defaults: temperature 1, top_p 1 (OpenAI's); top_k 20, repetition_penalty 1.2, max_tokens 7, eos ids [3, 4] (from test)",
            SamplingParameters.DescribeDefaults(Model with { Source = "test" }));
        Assert.Equal("request defaults: temperature 1, top_p 1 (OpenAI's); top_k 50, repetition_penalty 1, max_tokens the context (from Hugging Face defaults)",
            SamplingParameters.DescribeDefaults(GenerationDefaults.HuggingFace));
    }

    [Fact]
    public void Fields_the_request_sets_win_and_max_tokens_stays_within_the_context()
    {
        var options = Read("""{"temperature":0,"top_p":0.5,"top_k":3,"repetition_penalty":1,"max_tokens":1000}""", Model);
        Assert.Equal((0.0, 0.5, 3, 1.0, 64), (options.Temperature, options.TopP, options.TopK, options.RepetitionPenalty, options.MaxTokens));
        Assert.Equal(64, Read("{}", Model with { MaxNewTokens = 500 }).MaxTokens);
    }
}
