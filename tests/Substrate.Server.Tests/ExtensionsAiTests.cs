using System.ClientModel;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using Substrate.Inference.DotNetAI;

namespace Substrate.Server.Tests;

/// <summary>Microsoft.Extensions.AI.OpenAI's IChatClient / IEmbeddingGenerator against the server, and the in-process ones.</summary>
public class ExtensionsAiTests(TinyServer server) : IClassFixture<TinyServer>
{
    private OpenAIClient Client() => new(new ApiKeyCredential(TinyServer.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(server.BaseUrl, "/v1") });

    [Fact]
    public async Task Chat_over_http_equals_chat_in_process()
    {
        IChatClient http = Client().GetChatClient(TinyServer.ModelName).AsIChatClient();
        IChatClient local = new Inference.DotNetAI.SubstrateChatClient(server.Engine);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };
        var overHttp = await http.GetResponseAsync("the lazy dog", options);
        var inProcess = await local.GetResponseAsync("the lazy dog", options);
        Assert.Equal(inProcess.Text, overHttp.Text);
        Assert.Equal(inProcess.Usage!.OutputTokenCount, overHttp.Usage!.OutputTokenCount);

        var streamed = string.Concat(await http.GetStreamingResponseAsync("the lazy dog", options).Select(u => u.Text).ToListAsync());
        Assert.Equal(overHttp.Text, streamed);
    }

    [Fact]
    public async Task Embeddings_over_http_equal_embeddings_in_process()
    {
        IEmbeddingGenerator<string, Embedding<float>> http = Client().GetEmbeddingClient(TinyServer.ModelName).AsIEmbeddingGenerator();
        IEmbeddingGenerator<string, Embedding<float>> local = new Inference.DotNetAI.SubstrateEmbeddingGenerator(server.Engine);
        var a = await http.GenerateAsync(["brown fox", "json"]);
        var b = await local.GenerateAsync(["brown fox", "json"]);
        Assert.Equal(b[0].Vector.ToArray(), a[0].Vector.ToArray());
        Assert.Equal(b[1].Vector.ToArray(), a[1].Vector.ToArray());
    }

    [Fact]
    public async Task Tool_call_and_json_schema_through_IChatClient()
    {
        IChatClient http = Client().GetChatClient(TinyServer.ModelName).AsIChatClient();
        var weather = AIFunctionFactory.Create((string city, int days, string unit) => $"{city}: sunny", "get_weather", "Weather for a city");
        var options = new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireAny, Temperature = 0.5f, MaxOutputTokens = 200, Seed = 1 };
        var response = await http.GetResponseAsync("weather in paris?", options);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal(["city", "days", "unit"], call.Arguments!.Keys.ToArray());

        var local = await new Inference.DotNetAI.SubstrateChatClient(server.Engine).GetResponseAsync("weather in paris?", options);
        Assert.Single(local.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());

        var schema = JsonDocument.Parse("""{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"ok":{"type":"boolean"}},"required":["name","tags","ok"]}""").RootElement;
        var json = await http.GetResponseAsync("describe", new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "thing"), MaxOutputTokens = 300, Seed = 2 });
        using var doc = JsonDocument.Parse(json.Text);
        Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("name").ValueKind);
        Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("tags").ValueKind);
    }
}
