using System.ClientModel;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Microsoft.Extensions.AI;
using Substrate.Inference;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;

namespace Substrate.Server.Tests;

/// <summary>Concurrent requests share forward passes (mixed adapters included) and still get exactly what they would
/// alone; adapters are picked by model name; a client that leaves frees its slot; a full queue answers 429.</summary>
public class BatchingAndAdapterTests(TinyServer server) : IClassFixture<TinyServer>
{
    private async Task<string> Complete(string model, string prompt, int maxTokens = 24)
    {
        using var http = server.Http();
        var response = await http.PostAsJsonAsync("/v1/completions", new { model, prompt, max_tokens = maxTokens, temperature = 0 });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    [Fact]
    public async Task Models_lists_the_base_and_its_adapters()
    {
        using var http = server.Http();
        var models = await http.GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Equal(new[] { "tiny", "tiny:a", "tiny:b" }, models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray());
    }

    [Fact]
    public async Task Concurrent_requests_on_mixed_adapters_equal_each_request_alone()
    {
        var jobs = new[] { ("tiny", "the quick"), ("tiny:a", "the quick"), ("tiny:b", "lazy dog"), ("tiny", "a fox jumps over"), ("tiny:a", "json"), ("tiny:b", "the quick") };
        var alone = new List<string>();
        foreach (var (model, prompt) in jobs) alone.Add(await Complete(model, prompt));
        Assert.NotEqual(alone[0], alone[1]); // the adapter changes the output
        for (var round = 0; round < 2; round++)
        {
            var together = await Task.WhenAll(jobs.Select(j => Complete(j.Item1, j.Item2)));
            Assert.Equal(alone, together);
        }
    }

    [Fact]
    public async Task Adapter_by_model_name_through_the_sdk()
    {
        var client = new OpenAIClient(new ApiKeyCredential(TinyServer.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(server.BaseUrl, "/v1") });
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };
        var viaSdk = await client.GetChatClient("tiny:b").CompleteChatAsync([new UserChatMessage("hello")], options);
        var inProcess = await new SubstrateChatClient(server.Engine, "tiny:b").GetResponseAsync("hello",
            new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        Assert.Equal(inProcess.Text, viaSdk.Value.Content.Count == 0 ? "" : viaSdk.Value.Content[0].Text);
        Assert.Equal("tiny:b", viaSdk.Value.Model);
    }

    private async Task<long> GeneratedTokensTotal()
    {
        using var http = server.Http();
        var line = (await http.GetStringAsync("/metrics")).Split('\n').Single(l => l.StartsWith("substrate_generated_tokens_total "));
        return long.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Tokens_streamed_to_a_client_that_disconnects_are_counted()
    {
        using var http = server.Http();
        for (var seed = 0; seed < 10; seed++) // a random model may end early (EOS): try seeds until one streams 5 tokens
        {
            var before = await GeneratedTokensTotal();
            using var cancel = new CancellationTokenSource();
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = new StringContent($$"""{"model":"tiny","prompt":"go on","stream":true,"max_tokens":100000,"temperature":1,"seed":{{seed}}}""",
                    Encoding.UTF8, "application/json"),
            };
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
            var events = new List<string>();
            while (events.Count < 5 && await reader.ReadLineAsync(cancel.Token) is { } line)
                if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add(line);
            cancel.Cancel();
            response.Dispose();
            Assert.True(SpinWait.SpinUntil(() => server.Engine.ActiveSequences == 0, 5000), "the slot was not freed");
            if (events.Count < 5 || events.Any(e => e.Contains("finish_reason\":\"", StringComparison.Ordinal) || e.Contains("[DONE]"))) continue;
            Assert.True(await GeneratedTokensTotal() - before >= events.Count, "the streamed tokens were not counted");
            return;
        }
        Assert.Fail("no request streamed 5 tokens before its client left");
    }

    [Fact]
    public async Task A_client_that_disconnects_frees_its_slot()
    {
        // A random model may end early (EOS); try seeds until one is still generating when the client leaves.
        using var http = server.Http();
        for (var seed = 0; seed < 10; seed++)
        {
            using var cancel = new CancellationTokenSource();
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = new StringContent($$"""{"model":"tiny","prompt":"go on","stream":true,"max_tokens":100000,"temperature":1,"seed":{{seed}}}""", Encoding.UTF8, "application/json"),
            };
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            var stream = await response.Content.ReadAsStreamAsync(cancel.Token);
            await stream.ReadAsync(new byte[16], cancel.Token);
            var running = server.Engine.ActiveSequences == 1;
            cancel.Cancel();
            response.Dispose();
            Assert.True(SpinWait.SpinUntil(() => server.Engine.ActiveSequences == 0, 5000), "the slot was not freed");
            if (running) return;
        }
        Assert.Fail("no request was still generating when its client left");
    }

    [Fact]
    public async Task Batch_slots_plus_queue_are_admitted_at_once_and_the_next_gets_429_with_retry_after()
    {
        const int Batch = 2, Queue = 3;
        using var engine = TinyServer.CreateEngine(new BatchSchedulerOptions { MaxBatch = Batch, QueueCapacity = Queue });
        await using var small = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"] });
        await small.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(small.Urls[0]) };
        var body = """{"model":"tiny","prompt":"the","max_tokens":1000,"temperature":0}""";
        StringContent Body() => new(body, Encoding.UTF8, "application/json");
        // All at once, before the scheduler has taken any into a slot: the admitted count, not the queue alone, decides.
        var running = Enumerable.Range(0, Batch + Queue).Select(_ => http.PostAsync("/v1/completions", Body())).ToList();
        Assert.True(SpinWait.SpinUntil(() => engine.ActiveSequences == Batch && engine.QueueDepth == Queue, 10000),
            $"{engine.ActiveSequences} running, {engine.QueueDepth} waiting");
        var refused = await http.PostAsync("/v1/completions", Body());
        Assert.Equal(System.Net.HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("queue_full", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(TimeSpan.FromSeconds(QueueFullException.RetrySeconds), refused.Headers.RetryAfter?.Delta);
        foreach (var r in await Task.WhenAll(running)) Assert.True(r.IsSuccessStatusCode, $"{(int)r.StatusCode}");
    }
}
