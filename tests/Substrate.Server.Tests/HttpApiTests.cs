using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Substrate.Server.Tests;

/// <summary>The wire itself: SSE framing, completions logprobs, models/health/metrics, authentication, error bodies.</summary>
public class HttpApiTests(TinyServer server) : IClassFixture<TinyServer>
{
    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Error(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        return error;
    }

    [Fact]
    public async Task Streaming_is_server_sent_events_ending_in_done()
    {
        using var http = server.Http();
        var response = await http.PostAsync("/v1/chat/completions", Json("""
            {"model":"tiny","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":6,"temperature":0,"stream_options":{"include_usage":true}}
            """));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var finish = chunks.Single(c => c.GetProperty("choices").GetArrayLength() > 0 && c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        Assert.Contains(finish.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.InRange(usage.GetProperty("completion_tokens").GetInt32(), 1, 6);
    }

    [Fact]
    public async Task Completions_report_logprobs()
    {
        using var http = server.Http();
        var response = await http.PostAsync("/v1/completions", Json("""{"model":"tiny","prompt":"the quick","max_tokens":5,"temperature":0,"logprobs":3}"""));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = body.GetProperty("choices")[0];
        var logprobs = choice.GetProperty("logprobs");
        var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Equal(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), tokens.Count);
        var top = logprobs.GetProperty("top_logprobs");
        for (var i = 0; i < tokens.Count; i++)
        {
            var lp = logprobs.GetProperty("token_logprobs")[i].GetSingle();
            Assert.True(lp <= 0);
            var alternatives = top[i].EnumerateObject().ToList();
            Assert.InRange(alternatives.Count, 1, 3);
            Assert.Equal(alternatives.Max(a => a.Value.GetSingle()), lp, 4); // greedy: the chosen token is the most likely
        }
    }

    [Fact]
    public async Task Models_health_and_metrics()
    {
        using var http = server.Http();
        var models = await http.GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Equal(new[] { "tiny", "tiny:a", "tiny:b" }, models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray());
        await Error(await http.GetAsync("/v1/models/nope"), HttpStatusCode.NotFound);
        using var anonymous = server.Http(key: null);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
        await http.PostAsync("/v1/completions", Json("""{"model":"tiny","prompt":"a","max_tokens":2}"""));
        var metrics = await anonymous.GetStringAsync("/metrics");
        Assert.Contains("substrate_requests_total{endpoint=\"/v1/completions\",status=\"200\"}", metrics);
        Assert.Contains("substrate_generated_tokens_total", metrics);
        Assert.Contains("substrate_queue_depth 0", metrics);
        Assert.Contains("substrate_request_duration_seconds_bucket{endpoint=\"/v1/completions\",le=\"+Inf\"}", metrics);
    }

    [Fact]
    public async Task Authentication_is_required_when_keys_are_configured()
    {
        using var none = server.Http(key: null);
        var error = await Error(await none.GetAsync("/v1/models"), HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
        using var wrong = server.Http(key: "wrong");
        await Error(await wrong.PostAsync("/v1/chat/completions", Json("{}")), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("{not json", 400, "invalid_json", null)]
    [InlineData("""{"model":"other","messages":[{"role":"user","content":"hi"}]}""", 404, "model_not_found", "model")]
    [InlineData("""{"model":"tiny","messages":[]}""", 400, null, "messages")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":5}""", 400, "invalid_value", "temperature")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}""", 400, "invalid_type", "max_tokens")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"frequency_penalty":0.5}""", 400, "unsupported_value", "frequency_penalty")]
    [InlineData("""{"model":"tiny","messages":[{"role":"wizard","content":"hi"}]}""", 400, null, "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", 400, "missing_required_parameter", "model")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}}""", 400, null, "response_format.json_schema.schema")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}""", 400, "invalid_value", "top_logprobs")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"tool_choice":{"function":{"name":7}}}""", 400, null, "tool_choice.function.name")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}""", 400, "invalid_type", "messages[0].content[0].text")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}""", 400, "invalid_value", "tool_choice")]
    [InlineData("""
        {"model":"tiny","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]}
        """, 400, "invalid_value", "tools[1].function.name")]
    [InlineData("""
        {"model":"tiny","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":""}}]}
        """, 400, "invalid_value", "tools[0].function.name")]
    [InlineData("""
        {"model":"tiny","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"retrieval","function":{"name":"f"}}]}
        """, 400, "invalid_value", "tools[0].type")]
    [InlineData("""
        {"model":"tiny","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f",
        "parameters":{"type":"object","properties":{"d":{"type":"string","format":"date"}}}}}]}
        """, 400, "invalid_value", "tools[0].function.parameters")]
    [InlineData("""
        {"model":"tiny","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"enum":[]}}}}
        """, 400, "invalid_value", "response_format.json_schema.schema")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"logit_bias":{"100000":1}}""", 400, "invalid_value", "logit_bias")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"logit_bias":{"a":1}}""", 400, "invalid_value", "logit_bias.a")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"logit_bias":{"5":101}}""", 400, "invalid_value", "logit_bias.5")]
    public async Task Bad_requests_get_openai_error_bodies(string body, int status, string? code, string? param)
    {
        using var http = server.Http();
        var error = await Error(await http.PostAsync("/v1/chat/completions", Json(body)), (HttpStatusCode)status);
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Oversized_prompts_and_bodies_are_refused()
    {
        using var http = server.Http();
        var longPrompt = string.Join(' ', Enumerable.Repeat("quick brown fox", 800));
        var error = await Error(await http.PostAsync("/v1/completions", Json($$"""{"model":"tiny","prompt":"{{longPrompt}}"}""")), HttpStatusCode.BadRequest);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("prompt", error.GetProperty("param").GetString());
        var huge = new string('a', 100 * 1024);
        var tooLarge = await http.PostAsync("/v1/completions", Json($$"""{"model":"tiny","prompt":"{{huge}}"}"""));
        Assert.True(tooLarge.Headers.ConnectionClose); // the unread body ends the connection: the client must not reuse it
        await Error(tooLarge, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);
    }
}
