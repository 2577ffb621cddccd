using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace Substrate.Server.Tests;

/// <summary>The official OpenAI .NET SDK against the server: chat, streaming, embeddings, tools, json_schema.</summary>
public class OpenAiSdkTests(TinyServer server) : IClassFixture<TinyServer>
{
    private OpenAIClient Client() => new(new ApiKeyCredential(TinyServer.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(server.BaseUrl, "/v1") });

    private static ChatCompletionOptions Greedy(int maxTokens = 12) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    [Fact]
    public async Task Chat_completion()
    {
        var chat = Client().GetChatClient(TinyServer.ModelName);
        ChatCompletion reply = await chat.CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("Hello there")], Greedy());
        Assert.Equal(ChatMessageRole.Assistant, reply.Role);
        Assert.True(reply.Usage.InputTokenCount > 0);
        Assert.InRange(reply.Usage.OutputTokenCount, 1, 12);
        Assert.Contains(reply.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.Equal(TinyServer.ModelName, reply.Model);
    }

    [Fact]
    public async Task Streaming_equals_the_whole_completion()
    {
        var chat = Client().GetChatClient(TinyServer.ModelName);
        var messages = new ChatMessage[] { new UserChatMessage("the quick brown fox") };
        ChatCompletion whole = await chat.CompleteChatAsync(messages, Greedy(20));
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, Greedy(20)))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, text.ToString());
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task Embeddings_are_unit_vectors_of_the_hidden_size()
    {
        var embeddings = Client().GetEmbeddingClient(TinyServer.ModelName);
        OpenAIEmbeddingCollection result = await embeddings.GenerateEmbeddingsAsync(["the lazy dog", "a quick fox"]);
        Assert.Equal(2, result.Count);
        foreach (var e in result)
        {
            var v = e.ToFloats().ToArray();
            Assert.Equal(32, v.Length);
            Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 4);
        }
        var direct = await server.Engine.EmbedAsync(TinyServer.ModelName, ["the lazy dog"]);
        Assert.Equal(direct.Vectors[0], result[0].ToFloats().ToArray());
    }

    private const string WeatherSchema = """
        {"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"unit":{"enum":["c","f"]}},"required":["city","days","unit"],"additionalProperties":false}
        """;

    [Fact]
    public async Task Required_tool_call_has_valid_arguments()
    {
        var chat = Client().GetChatClient(TinyServer.ModelName);
        var tool = ChatTool.CreateFunctionTool("get_weather", "Weather for a city", BinaryData.FromString(WeatherSchema));
        var options = new ChatCompletionOptions { Tools = { tool }, ToolChoice = ChatToolChoice.CreateRequiredChoice(), Temperature = 0.7f, MaxOutputTokenCount = 200, Seed = 3 };
        ChatCompletion reply = await chat.CompleteChatAsync([new UserChatMessage("What is the weather in Paris?")], options);
        Assert.Equal(ChatFinishReason.ToolCalls, reply.FinishReason);
        var call = Assert.Single(reply.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        AssertWeather(call.FunctionArguments.ToString());

        // The result goes back as a tool message; the conversation continues.
        ChatCompletion next = await chat.CompleteChatAsync(
            [new UserChatMessage("What is the weather in Paris?"), new AssistantChatMessage([call]), new ToolChatMessage(call.Id, "{\"temp\": 21}")], Greedy());
        Assert.NotEqual(ChatFinishReason.ToolCalls, next.FinishReason);
    }

    [Fact]
    public async Task Json_schema_output_parses_and_validates()
    {
        var chat = Client().GetChatClient(TinyServer.ModelName);
        for (var seed = 0; seed < 3; seed++)
        {
            var options = new ChatCompletionOptions
            {
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("weather", BinaryData.FromString(WeatherSchema), jsonSchemaIsStrict: true),
                Temperature = 1, MaxOutputTokenCount = 200, Seed = seed,
            };
            ChatCompletion reply = await chat.CompleteChatAsync([new UserChatMessage("weather as json")], options);
            Assert.Equal(ChatFinishReason.Stop, reply.FinishReason);
            AssertWeather(reply.Content[0].Text);
        }
    }

    [Fact]
    public async Task Json_object_output_parses()
    {
        var chat = Client().GetChatClient(TinyServer.ModelName);
        var options = new ChatCompletionOptions { ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat(), Temperature = 1, MaxOutputTokenCount = 200, Seed = 5 };
        ChatCompletion reply = await chat.CompleteChatAsync([new UserChatMessage("json please")], options);
        if (reply.FinishReason == ChatFinishReason.Stop)
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(reply.Content[0].Text).RootElement.ValueKind);
        else Assert.StartsWith("{", reply.Content[0].Text);
    }

    internal static void AssertWeather(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(["city", "days", "unit"], root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(JsonValueKind.String, root.GetProperty("city").ValueKind);
        Assert.True(root.GetProperty("days").TryGetInt64(out _));
        Assert.Contains(root.GetProperty("unit").GetString(), new[] { "c", "f" });
    }
}
