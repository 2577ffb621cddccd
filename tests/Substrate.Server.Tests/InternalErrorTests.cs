using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Substrate.Inference;
using Substrate.Inference.Serving;

namespace Substrate.Server.Tests;

/// <summary>An engine failure reaches the client as OpenAI's 500 error shape, with nothing of the exception in it.</summary>
public class InternalErrorTests
{
    private sealed class FailingEngine : IInferenceEngine
    {
        public const string Leak = "probability tensor contains nan\nframe #0: c10::Error (0x7f in /home/build/libc10.so)";
        public string BaseModel => "broken";
        public IReadOnlyList<string> Models => ["broken"];
        public int Context => 64;
        public int QueueDepth => 0;
        public int ActiveSequences => 0;
        public GenerationDefaults GenerationDefaults => GenerationDefaults.HuggingFace;

        /// <summary>True: the stream starts (one token) and then fails; false: it fails before its first chunk.</summary>
        public bool FailMidStream { get; init; }

        public IAsyncEnumerable<CompletionChunk> StreamAsync(CompletionRequest request, CancellationToken cancellation = default) =>
            FailMidStream ? OneTokenThenFail() : throw new ExternalException(Leak);

        private static async IAsyncEnumerable<CompletionChunk> OneTokenThenFail()
        {
            yield return new CompletionChunk("Hel");
            await Task.Yield();
            throw new InvalidOperationException("generation failed: the model's logits hold NaN", new ExternalException(Leak));
        }

        public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancellation = default) =>
            throw new NullReferenceException(Leak);

        public void Dispose() { }
    }

    [Theory]
    [InlineData("/v1/embeddings", """{"model":"broken","input":"hi"}""")]
    [InlineData("/v1/completions", """{"model":"broken","prompt":"hi"}""")]
    public async Task A_500_carries_no_message_path_or_exception_type(string path, string body)
    {
        using var engine = new FailingEngine();
        await using var server = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"] });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        using var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Equal("internal_error", error.GetProperty("code").GetString());
        foreach (var leak in new[] { "libc10", "frame", "/home", "Exception", "nan" }) Assert.DoesNotContain(leak, text);
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"broken","messages":[{"role":"user","content":"hi"}],"stream":true}""")]
    [InlineData("/v1/completions", """{"model":"broken","prompt":"hi","stream":true}""")]
    public async Task A_stream_that_fails_after_it_started_ends_with_an_error_event_then_done(string path, string body)
    {
        using var engine = new FailingEngine { FailMidStream = true };
        await using var server = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"] });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        using var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("Hel", events[^3]);
        Assert.Equal("data: [DONE]", events[^1]);
        var error = JsonDocument.Parse(events[^2]["data: ".Length..]).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Equal("internal_error", error.GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        foreach (var leak in new[] { "libc10", "frame", "/home", "Exception", "nan", "NaN" }) Assert.DoesNotContain(leak, events[^2]);
    }
}
