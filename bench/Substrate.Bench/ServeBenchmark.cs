using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Models;
using Substrate.Server;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// Serving throughput and latency: bench-12m (random init, seeded) with a small BPE tokenizer, behind
/// <c>substrate serve</c>'s server on 127.0.0.1, streamed chat completions (SSE) from 1, 4 and 16 concurrent
/// clients (and 64: the batch's 16 slots full, the rest queued), each sending requests back to back (a ~40-token prompt, 64 new tokens). Reports generated tokens/s
/// over all streams, per-stream tokens/s, and p50/p99 request latency and time to first token. Continuous batching
/// should make the aggregate at 16 streams several times the single stream's.
/// </summary>
internal static class ServeBenchmark
{
    private const int NewTokens = 64;
    private const int RequestsPerStream = 3;

    public static void Run() => RunAsync().GetAwaiter().GetResult();

    private static async Task RunAsync()
    {
        var folder = CreateFolder();
        SchedulerOnly(folder);
        using var engine = InferenceEngine.Load(folder, "bench-12m", options: new BatchSchedulerOptions { MaxBatch = 16, QueueCapacity = 64 });
        await using var server = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"] });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]), Timeout = TimeSpan.FromMinutes(10) };
        await Request(http, 0); // warm-up
        foreach (var streams in new[] { 1, 4, 16, 64 }) // 64: four times the batch slots, the rest queued
        {
            var watch = Stopwatch.StartNew();
            var results = await Task.WhenAll(Enumerable.Range(0, streams).Select(async s =>
            {
                var list = new List<(double Latency, double FirstToken, int Tokens)>();
                for (var r = 0; r < RequestsPerStream; r++) list.Add(await Request(http, s * 100 + r));
                return list;
            }));
            var wall = watch.Elapsed.TotalSeconds;
            var all = results.SelectMany(r => r).ToList();
            var tokens = all.Sum(r => r.Tokens);
            JsonLine.Write(new
            {
                bench = "serve",
                model = "bench-12m",
                streams,
                requests = all.Count,
                new_tokens_per_request = NewTokens,
                generated_tokens = tokens,
                tokens_per_second = JsonLine.Round(tokens / wall),
                tokens_per_second_per_stream = JsonLine.Round(tokens / wall / streams),
                latency_p50_ms = JsonLine.Round(Percentile(all.Select(r => r.Latency), 0.5) * 1000),
                latency_p99_ms = JsonLine.Round(Percentile(all.Select(r => r.Latency), 0.99) * 1000),
                first_token_p50_ms = JsonLine.Round(Percentile(all.Select(r => r.FirstToken), 0.5) * 1000),
                rss_mb = JsonLine.Round(Environment.WorkingSet / 1e6),
                threads = get_num_threads(),
            });
        }
    }

    /// <summary>The same load on the <see cref="BatchScheduler"/> directly (no HTTP, no chat template): what batching
    /// itself gives, apart from the server's per-token work.</summary>
    private static void SchedulerOnly(string folder)
    {
        using var loaded = LoadedModel.Load(folder);
        var prompt = loaded.Tokenizer.Encode("Tell me a long story about a quick brown fox and a lazy dog, please.", addSpecialTokens: true);
        foreach (var streams in new[] { 1, 4, 16 })
        {
            using var scheduler = new BatchScheduler(loaded.Model, loaded.Tokenizer, new BatchSchedulerOptions { MaxBatch = 16 });
            var watch = Stopwatch.StartNew();
            var counts = Task.WhenAll(Enumerable.Range(0, streams).Select(s => Task.Run(async () =>
            {
                var n = 0;
                for (var r = 0; r < RequestsPerStream; r++)
                    await foreach (var e in scheduler.Submit(new SequenceRequest
                        { PromptIds = prompt, Options = new GenerationOptions { MaxTokens = NewTokens, Temperature = 1, Seed = s * 100 + r } }).ReadAllAsync())
                        if (e.Token is not null) n++;
                return n;
            }))).GetAwaiter().GetResult();
            var tokens = counts.Sum();
            JsonLine.Write(new
            {
                bench = "serve-scheduler",
                model = "bench-12m",
                streams,
                requests = streams * RequestsPerStream,
                generated_tokens = tokens,
                tokens_per_second = JsonLine.Round(tokens / watch.Elapsed.TotalSeconds),
                threads = get_num_threads(),
            });
        }
    }

    /// <summary>One streamed chat completion: latency to [DONE], time to the first content, tokens from usage.</summary>
    private static async Task<(double Latency, double FirstToken, int Tokens)> Request(HttpClient http, int seed)
    {
        var watch = Stopwatch.StartNew();
        var body = new
        {
            model = "bench-12m", stream = true, max_tokens = NewTokens, temperature = 1.0, seed,
            stream_options = new { include_usage = true },
            messages = new[] { new { role = "user", content = "Tell me a long story about a quick brown fox and a lazy dog, please." } },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = 0;
        var tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
            using var chunk = JsonDocument.Parse(line[6..]);
            var root = chunk.RootElement;
            if (first == 0 && root.GetProperty("choices") is { } choices && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 })
                first = watch.Elapsed.TotalSeconds;
            if (root.TryGetProperty("usage", out var usage)) tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (watch.Elapsed.TotalSeconds, first, tokens);
    }

    internal static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    internal static string CreateFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"substrate-serve-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var text = "the quick brown fox jumps over the lazy dog and tells a long story to the model ";
        var tokenizer = BpeTrainer.Train(Enumerable.Range(0, 200).Select(i => text + i), new BpeTrainerOptions { VocabSize = 512 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
        manual_seed(0);
        using var model = new LlamaForCausalLM(ModelPresets.Get("bench-12m"));
        ModelFolder.Save(model, dir);
        return dir;
    }
}
