using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Substrate.Server.Tests;

/// <summary>
/// Generated malformed requests for every endpoint and field: each field of a valid body (nested ones too) is replaced
/// by values of every JSON type and some extremes. Whatever the value, the answer is never a 5xx: a success, or a 4xx in
/// OpenAI's error shape naming a parameter where one is at fault.
/// </summary>
public class RequestFuzzTests(TinyServer server, ITestOutputHelper output) : IClassFixture<TinyServer>
{
    private const string ChatBody = """
        {"model":"tiny","max_tokens":2,"temperature":0,"top_p":1,"seed":1,"stop":["\n"],"logprobs":true,"top_logprobs":1,
         "stream":false,"stream_options":{"include_usage":true},"repetition_penalty":1.1,"logit_bias":{"5":1},"user":"u",
         "messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]},
           {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
           {"role":"tool","tool_call_id":"c1","content":"3"}],
         "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object",
           "properties":{"a":{"type":"integer"}},"required":["a"]}}}],
         "tool_choice":"auto","response_format":{"type":"text"}}
        """;

    private const string CompletionBody = """
        {"model":"tiny","prompt":"a","max_tokens":2,"temperature":0,"logprobs":1,"stop":"x","stream":false,"seed":2,"echo":false}
        """;

    private const string EmbeddingBody = """{"model":"tiny","input":["a","b"],"encoding_format":"float"}""";

    private static readonly string[] Values =
        ["1", "-1", "0.5", "1e308", "-1e308", "\"x\"", "\"\"", "true", "false", "[]", "[1]", "[\"x\"]", "{}", "{\"a\":1}", "\"\\ud800\""];

    /// <summary>Every path in a JSON tree: "a", "a.b", "a[0]", "a[0].b", …</summary>
    private static IEnumerable<string> Paths(JsonNode? node, string prefix)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    var path = prefix.Length == 0 ? key : $"{prefix}.{key}";
                    yield return path;
                    foreach (var inner in Paths(value, path)) yield return inner;
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    yield return $"{prefix}[{i}]";
                    foreach (var inner in Paths(a[i], $"{prefix}[{i}]")) yield return inner;
                }
                break;
        }
    }

    /// <summary><paramref name="body"/> with the node at <paramref name="path"/> replaced by <paramref name="value"/>.</summary>
    private static string Replace(string body, string path, string value)
    {
        var root = JsonNode.Parse(body)!;
        var steps = System.Text.RegularExpressions.Regex.Matches(path, @"[^.\[\]]+|\[\d+\]").Select(m => m.Value).ToList();
        JsonNode parent = root;
        foreach (var step in steps[..^1]) parent = step.StartsWith('[') ? parent[int.Parse(step[1..^1])]! : parent[step]!;
        var last = steps[^1];
        const string Placeholder = "__fuzzed_value__"; // the raw value is spliced in as text: a lone surrogate cannot be a JsonNode
        if (last.StartsWith('[')) parent[int.Parse(last[1..^1])] = Placeholder;
        else parent[last] = Placeholder;
        return root.ToJsonString().Replace($"\"{Placeholder}\"", value, StringComparison.Ordinal);
    }

    private async Task<(HttpStatusCode Status, string Body)> Post(string path, HttpContent content)
    {
        using var http = server.Http();
        using var response = await http.PostAsync(path, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static void AssertAnswer(HttpStatusCode status, string body, string what)
    {
        Assert.True((int)status < 500, $"{what}: {(int)status} {body}");
        if ((int)status < 400) return;
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.True(error.GetProperty("message").ValueKind == JsonValueKind.String, $"{what}: no error message");
        Assert.True(error.TryGetProperty("type", out _) && error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _), $"{what}: not OpenAI's shape");
    }

    [Theory]
    [InlineData("/v1/chat/completions", ChatBody)]
    [InlineData("/v1/completions", CompletionBody)]
    [InlineData("/v1/embeddings", EmbeddingBody)]
    public async Task Every_field_with_every_kind_of_value_gets_a_success_or_a_4xx(string endpoint, string body)
    {
        var (status, text) = await Post(endpoint, new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.True(status == HttpStatusCode.OK, $"the base body must be valid: {text}");
        var failures = new List<string>();
        var count = 0;
        foreach (var path in Paths(JsonNode.Parse(body), "").Distinct().ToList())
            foreach (var value in Values)
            {
                count++;
                var mutated = Replace(body, path, value);
                (status, text) = await Post(endpoint, new StringContent(mutated, Encoding.UTF8, "application/json"));
                try { AssertAnswer(status, text, $"{path} = {value}"); }
                catch (Exception e) when (e is Xunit.Sdk.XunitException or JsonException or KeyNotFoundException) { failures.Add(e.Message.Split('\n')[0]); }
            }
        output.WriteLine($"{count} requests to {endpoint}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count}:\n{string.Join("\n", failures.Take(40))}");
    }

    [Theory]
    [InlineData("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\xfeb\"}]}")] // invalid UTF-8
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    public async Task Raw_bodies_that_are_not_a_request_get_400(string raw)
    {
        var content = new ByteArrayContent(Encoding.Latin1.GetBytes(raw));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var (status, body) = await Post("/v1/chat/completions", content);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertAnswer(status, body, raw);
    }

    [Fact]
    public async Task Deep_nesting_is_refused_not_recursed()
    {
        var deep = new string('[', 5000) + new string(']', 5000);
        var (status, body) = await Post("/v1/chat/completions", new StringContent($$"""{"model":"tiny","messages":{{deep}}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertAnswer(status, body, "deep");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task A_body_that_is_not_declared_json_gets_415(string? type)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"model":"tiny","prompt":"a","max_tokens":1}"""));
        content.Headers.ContentType = type is null ? null : new MediaTypeHeaderValue(type);
        var (status, body) = await Post("/v1/completions", content);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        AssertAnswer(status, body, type ?? "no content type");
    }
}
