using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Substrate.Server.Tests;

/// <summary>
/// The API key guards every route the server maps, whatever spelling of the path reaches it: the test walks the routing
/// table itself, so an endpoint added later without protection fails here.
/// </summary>
public class AuthenticationTests(TinyServer server) : IClassFixture<TinyServer>
{
    private static readonly string[] OpenRoutes = ["/health", "/metrics"];

    /// <summary>Spellings that routing resolves to the same endpoint (case, trailing slash, percent-encoding).</summary>
    private static IEnumerable<string> Spellings(string path)
    {
        yield return path;
        yield return path.ToUpperInvariant();
        yield return string.Concat(path.Select((c, i) => i % 2 == 0 ? char.ToUpperInvariant(c) : c));
        yield return path + "/";
        if (path.Length > 2) yield return path[..2] + "%" + ((int)path[2]).ToString("X2") + path[3..];
    }

    /// <summary>A concrete path for a route pattern: parameters become "x", the catch-all fallback an unmapped path.</summary>
    private static string Concrete(string pattern) =>
        pattern.StartsWith('/') ? System.Text.RegularExpressions.Regex.Replace(pattern, @"\{[^}]*\}", "x") : "/no/such/route";

    private static HttpRequestMessage Request(string method, string path, string? key)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method is "POST" or "PUT" or "PATCH") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        if (key is not null) request.Headers.Authorization = new("Bearer", key);
        return request;
    }

    [Fact]
    public async Task Every_route_but_health_and_metrics_needs_the_key_in_any_spelling()
    {
        var routes = server.Server.Routes;
        Assert.Contains(routes, r => r.Pattern == "/v1/chat/completions");
        Assert.Equal(OpenRoutes, routes.Where(r => r.Anonymous).Select(r => r.Pattern).Order().ToArray());
        using var http = server.Http(key: null);
        foreach (var route in routes.Where(r => !r.Anonymous))
            foreach (var method in route.Methods.DefaultIfEmpty("GET").Append("HEAD").Distinct())
                foreach (var path in Spellings(Concrete(route.Pattern)))
                    foreach (var key in new[] { null, "wrong", TinyServer.ApiKey + "x" })
                    {
                        using var response = await http.SendAsync(Request(method, path, key));
                        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with key '{key}' gave {(int)response.StatusCode}");
                        if (method != "HEAD")
                            Assert.Equal("invalid_api_key", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
                    }
    }

    [Fact]
    public async Task The_case_variant_that_bypassed_the_key_is_refused_and_served_with_it()
    {
        var body = """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2}""";
        using var anonymous = server.Http(key: null);
        foreach (var path in new[] { "/V1/chat/completions", "/v1/CHAT/completions", "/V1/Completions", "/V1/MODELS" })
        {
            using var response = await anonymous.SendAsync(Request(path.EndsWith("MODELS") ? "GET" : "POST", path, null));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using var http = server.Http();
        using var served = await http.PostAsync("/V1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        var metrics = await anonymous.GetStringAsync("/metrics");
        Assert.Contains("substrate_requests_total{endpoint=\"/v1/chat/completions\",status=\"401\"}", metrics);
    }

    [Fact]
    public async Task Health_and_metrics_are_open_in_any_spelling()
    {
        using var http = server.Http(key: null);
        foreach (var route in OpenRoutes)
            foreach (var path in Spellings(route))
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(path)).StatusCode);
    }
}
