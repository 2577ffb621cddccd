using System.Text.Json;
using Substrate.Inference.Constrained;
using Substrate.Inference.Serving;

namespace Substrate.Inference.Tests;

public class JsonConstraintTests
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"score":{"type":"number"},
         "tags":{"type":"array","items":{"enum":["a","b"]}},"address":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
         "ok":{"type":"boolean"}},"required":["name","age","ok"],"additionalProperties":false}
        """;

    private static JsonState Start() => JsonState.Start(JsonSchemaNode.Parse(Schema));

    [Theory]
    [InlineData("""{"name":"x","age":3,"ok":true}""")]
    [InlineData("""{"name":"a\"b","age":-12,"score":1.5e3,"tags":["a","b","a"],"address":{"city":"Paris"},"ok":false}""")]
    [InlineData("""{"name":"","age":0,"tags":[],"ok":true}""")]
    public void Valid_documents_are_accepted_to_the_end(string json)
    {
        var state = Start().Feed(json);
        Assert.NotNull(state);
        Assert.True(state!.IsComplete);
        Assert.Null(state.Feed('x')); // nothing after the document
    }

    [Theory]
    [InlineData("""{"age":3""")]                        // required "name" skipped
    [InlineData("""{"name":"x","age":3}""")]            // closed before required "ok"
    [InlineData("""{"name":"x","age":3.5""")]           // integer with a fraction
    [InlineData("""{"name":"x","extra":1""")]           // not a property
    [InlineData("""{"name":"x","age":3,"tags":["c""")]  // not in the enum
    [InlineData("""{ "name":1}""")]                     // whitespace
    [InlineData("""{"name":"x","age":01""")]            // leading zero
    [InlineData("""{"name":"x","age":3,"ok":tru,""")]   // broken literal
    public void Invalid_prefixes_are_refused(string json) => Assert.Null(Start().Feed(json));

    [Fact]
    public void Unsupported_schema_keywords_are_refused()
    {
        Assert.Throws<ArgumentException>(() => JsonSchemaNode.Parse("""{"type":"string","pattern":"a+"}"""));
        Assert.Throws<ArgumentException>(() => JsonSchemaNode.Parse("""{"type":"object","properties":{},"required":["x"]}"""));
    }

    [Fact]
    public void Sampled_output_of_a_random_model_always_validates()
    {
        using var model = TinyModel.Create(maxPositions: 512);
        var tokenizer = new ByteTokenizer();
        var table = new JsonTokenTable(tokenizer, model.Config.VocabSize);
        using var scheduler = new BatchScheduler(model, tokenizer);
        for (var seed = 0; seed < 4; seed++)
        {
            var reader = scheduler.Submit(new SequenceRequest
            {
                PromptIds = tokenizer.Encode("json:", true),
                Options = new GenerationOptions { MaxTokens = 480, Temperature = 1, Seed = seed },
                Constraint = new JsonConstraint(table, JsonSchemaNode.Parse(Schema)),
            });
            var events = reader.ReadAllAsync().ToBlockingEnumerable().ToList();
            Assert.Equal(FinishReason.Stop, events[^1].Finish);
            var text = string.Concat(events.Select(e => e.Token?.Text ?? e.Rest));
            using var doc = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("name").ValueKind);
            Assert.True(doc.RootElement.GetProperty("age").TryGetInt64(out _), text);
            Assert.Contains(doc.RootElement.GetProperty("ok").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
        }
    }
}
