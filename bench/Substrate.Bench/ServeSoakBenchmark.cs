using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Server;

namespace Substrate.Bench;

/// <summary>
/// A soak of the server under mixed valid and hostile traffic (bench-12m, random init): 16 clients for
/// SUBSTRATE_SOAK_MINUTES (default 2) minutes, each drawing from a fixed, seeded mix — streamed and plain chat, text
/// completions, embeddings, and hostile requests (bad JSON, wrong types, extreme sampling values, no or wrong key, a
/// case-variant path, an oversized body, a client that disconnects mid-stream). Reports counts by status (a 5xx is a
/// bug), p50/p99 latency of the valid requests, and the process's resident memory at the start and the end.
/// </summary>
internal static class ServeSoakBenchmark
{
    private const string Key = "soak-key";
    private const string Chat = """{"model":"bench-12m","max_tokens":24,"messages":[{"role":"user","content":"Tell me about the fox."}]""";

    /// <summary>(name, path, body, send the key, valid: counted in the latency figures): one request of the mix; a null body
    /// is a GET.</summary>
    private static readonly (string Name, string Path, string? Body, bool Keyed, bool Valid)[] Mix =
    [
        ("chat", "/v1/chat/completions", Chat + "}", true, true),
        ("chat-stream", "/v1/chat/completions", Chat + ""","stream":true,"temperature":0.7,"seed":1}""", true, true),
        ("completion", "/v1/completions", """{"model":"bench-12m","prompt":"The fox","max_tokens":16,"logprobs":2}""", true, true),
        ("embeddings", "/v1/embeddings", """{"model":"bench-12m","input":["a fox","a dog"]}""", true, true),
        ("models", "/v1/models", null, true, true),
        ("bad-json", "/v1/chat/completions", "{\"model\":", true, false),
        ("wrong-type", "/v1/chat/completions", """{"model":"bench-12m","messages":"hi","max_tokens":"ten"}""", true, false),
        ("extreme-sampling", "/v1/chat/completions", Chat + ""","temperature":1e-38,"top_p":5e-324,"repetition_penalty":1e-300}""", true, true), // accepted values: answered, never NaN
        ("no-key", "/v1/chat/completions", Chat + "}", false, false),
        ("case-variant-no-key", "/V1/Chat/Completions", Chat + "}", false, false),
        ("unknown-model", "/v1/completions", """{"model":"nope","prompt":"x"}""", true, false),
        ("oversized", "/v1/completions", "{\"model\":\"bench-12m\",\"prompt\":\"" + new string('a', 70_000) + "\"}", true, false),
        ("disconnect", "/v1/chat/completions", Chat + ""","stream":true,"max_tokens":200}""", true, false),
    ];

    public static void Run() => RunAsync().GetAwaiter().GetResult();

    private static async Task RunAsync()
    {
        var minutes = double.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_SOAK_MINUTES"), out var m) ? m : 2;
        var folder = ServeBenchmark.CreateFolder();
        using var engine = InferenceEngine.Load(folder, "bench-12m", options: new BatchSchedulerOptions { MaxBatch = 16, QueueCapacity = 64 });
        await using var server = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"], ApiKeys = [Key], MaxRequestBytes = 64 * 1024 });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]), Timeout = TimeSpan.FromMinutes(2) };
        await Send(http, Mix[0], CancellationToken.None); // warm-up
        var rssStart = Rss();
        var statuses = new Dictionary<string, int>();
        var latencies = new List<double>();
        var end = DateTime.UtcNow.AddMinutes(minutes);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(client => Task.Run(async () =>
        {
            var random = new Random(client);
            while (DateTime.UtcNow < end)
            {
                var entry = Mix[random.Next(Mix.Length)];
                var (status, seconds) = await Send(http, entry, CancellationToken.None);
                lock (statuses)
                {
                    statuses[status] = statuses.GetValueOrDefault(status) + 1;
                    if (entry.Valid) latencies.Add(seconds);
                }
            }
        })));
        JsonLine.Write(new
        {
            bench = "serve-soak",
            model = "bench-12m",
            minutes,
            clients = 16,
            requests = statuses.Values.Sum(),
            statuses = statuses.OrderBy(s => s.Key).ToDictionary(s => s.Key, s => s.Value),
            server_errors = statuses.Where(s => s.Key.StartsWith('5')).Sum(s => s.Value),
            valid_latency_p50_ms = JsonLine.Round(ServeBenchmark.Percentile(latencies, 0.5) * 1000),
            valid_latency_p99_ms = JsonLine.Round(ServeBenchmark.Percentile(latencies, 0.99) * 1000),
            rss_mb_start = JsonLine.Round(rssStart / 1e6),
            rss_mb_end = JsonLine.Round(Rss() / 1e6),
        });
    }

    /// <summary>Sends one request of the mix; "disconnect" reads one line of the stream and goes away.</summary>
    private static async Task<(string Status, double Seconds)> Send(HttpClient http, (string Name, string Path, string? Body, bool Keyed, bool Valid) entry,
        CancellationToken cancel)
    {
        var watch = Stopwatch.StartNew();
        try { return await SendOnce(http, entry, watch, cancel); }
        catch (HttpRequestException) { return ($"closed-{entry.Name}", watch.Elapsed.TotalSeconds); } // e.g. Kestrel ends an oversized upload early
    }

    private static async Task<(string Status, double Seconds)> SendOnce(HttpClient http, (string Name, string Path, string? Body, bool Keyed, bool Valid) entry,
        Stopwatch watch, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(entry.Body is null ? HttpMethod.Get : HttpMethod.Post, entry.Path);
        if (entry.Body is not null) request.Content = new StringContent(entry.Body, Encoding.UTF8, "application/json");
        if (entry.Keyed) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var body = await response.Content.ReadAsStreamAsync(cancel);
        using var reader = new StreamReader(body);
        if (entry.Name == "disconnect") { await reader.ReadLineAsync(cancel); return ("disconnected-" + status, watch.Elapsed.TotalSeconds); }
        await reader.ReadToEndAsync(cancel);
        return (status, watch.Elapsed.TotalSeconds);
    }

    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }
}
