using Substrate.Inference.Serving;
using Substrate.Tokenizers;

namespace Substrate.Inference.Tests;

/// <summary>The engine's request types are typed (no OpenAI strings, no -1 sentinels) and its limits are its own.</summary>
public class EngineRequestTests
{
    [Fact]
    public async Task The_last_chunk_carries_the_generators_finish_reason()
    {
        using var model = TinyModel.Create(maxPositions: 128);
        var tokenizer = new ByteTokenizer();
        using var engine = new InferenceEngine(model, tokenizer, TokenizerConfig.Empty, "tiny");
        var options = new GenerationOptions { Temperature = 0, MaxTokens = 3 };
        var chunks = await Collect(engine, new CompletionRequest { Model = "tiny", Prompt = "abc", Options = options });

        var stats = new GenerationStats();
        _ = string.Concat(new Generator(model, tokenizer).Stream("abc", options, stats));
        Assert.Equal(stats.FinishReason, chunks[^1].FinishReason);
        Assert.All(chunks[..^1], c => Assert.Null(c.FinishReason));
    }

    [Fact]
    public async Task The_models_eos_ids_end_generation()
    {
        using var model = TinyModel.Create(maxPositions: 128);
        var tokenizer = new ByteTokenizer();
        var options = new GenerationOptions { Temperature = 0, MaxTokens = 8 };
        var stopIds = new HashSet<int>(tokenizer.Special.Eos is { } eos ? [eos] : []);
        var free = new TokenGenerator(model).Generate(tokenizer.Encode("abc", addSpecialTokens: true), options, stopIds).ToArray();
        Assert.True(free.Length > 3);

        var defaults = new GenerationDefaults { EosTokenIds = [free[3]] };
        using var engine = new InferenceEngine(model, tokenizer, TokenizerConfig.Empty, "tiny", generationDefaults: defaults);
        var chunks = await Collect(engine, new CompletionRequest { Model = "tiny", Prompt = "abc", Options = options });
        Assert.Equal((FinishReason.Eos, Array.IndexOf(free, free[3])), (chunks[^1].FinishReason, chunks[^1].Usage!.CompletionTokens));
    }

    [Fact]
    public async Task Logprobs_are_off_unless_asked_and_the_engine_allows_up_to_the_vocabulary()
    {
        using var model = TinyModel.Create(maxPositions: 128);
        using var engine = new InferenceEngine(model, new ByteTokenizer(), TokenizerConfig.Empty, "tiny");
        var request = new CompletionRequest { Model = "tiny", Prompt = "abc", Options = new GenerationOptions { Temperature = 0, MaxTokens = 2 } };

        Assert.All(await Collect(engine, request), c => Assert.Null(c.Tokens));
        var wide = await Collect(engine, request with { TopLogprobs = 25 }); // above OpenAI's 20: the server's limit, not the engine's
        Assert.All(wide.Where(c => c.Tokens is not null), c => Assert.Equal(25, c.Tokens![0].Top.Count));
        await Assert.ThrowsAsync<ArgumentException>(() => Collect(engine, request with { TopLogprobs = 259 }));
        await Assert.ThrowsAsync<ArgumentException>(() => Collect(engine, request with { TopLogprobs = -1 }));
    }

    [Fact]
    public void Tool_choice_and_response_format_carry_a_name_or_schema_exactly_when_they_need_one()
    {
        Assert.Equal((ToolChoiceMode.Function, "f"), (ToolChoice.Function("f").Mode, ToolChoice.Function("f").FunctionName));
        Assert.Equal(ToolChoice.Function("f"), ToolChoice.Function("f"));
        Assert.All(new[] { ToolChoice.None, ToolChoice.Auto, ToolChoice.Required }, c => Assert.Null(c.FunctionName));
        var choices = new[] { ToolChoice.None, ToolChoice.Auto, ToolChoice.Required, ToolChoice.Function("f") };
        Assert.Equal([false, false, true, true], choices.Select(c => c.ForcesCall));
        Assert.Throws<ArgumentException>(() => ToolChoice.Function(""));

        Assert.Equal((ResponseFormatKind.JsonSchema, "{}"), (ResponseFormat.JsonSchema("{}").Kind, ResponseFormat.JsonSchema("{}").Schema));
        Assert.All(new[] { ResponseFormat.Text, ResponseFormat.JsonObject }, f => Assert.Null(f.Schema));
        Assert.Throws<ArgumentException>(() => ResponseFormat.JsonSchema(""));
    }

    private static async Task<List<CompletionChunk>> Collect(IInferenceEngine engine, CompletionRequest request)
    {
        var chunks = new List<CompletionChunk>();
        await foreach (var chunk in engine.StreamAsync(request)) chunks.Add(chunk);
        return chunks;
    }
}
