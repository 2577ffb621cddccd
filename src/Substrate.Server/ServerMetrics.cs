using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Substrate.Inference;
using Substrate.Inference.Serving;

namespace Substrate.Server;

/// <summary>
/// Counters for <c>/metrics</c> in the Prometheus text format: requests by endpoint and status, prompt and
/// generated tokens, queue depth and active sequences (gauges read from the engine), request latency histogram.
/// </summary>
public sealed class ServerMetrics(IInferenceEngine engine)
{
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private readonly ConcurrentDictionary<(string Endpoint, int Status), long> requests = new();
    private readonly ConcurrentDictionary<string, long[]> latency = new(); // per endpoint: bucket counts, then +Inf count
    private readonly ConcurrentDictionary<string, double> latencySum = new();
    private long promptTokens, generatedTokens;

    public void Request(string endpoint, int status, double seconds)
    {
        requests.AddOrUpdate((endpoint, status), 1, (_, n) => n + 1);
        var counts = latency.GetOrAdd(endpoint, _ => new long[Buckets.Length + 1]);
        lock (counts)
        {
            for (var i = 0; i < Buckets.Length; i++) if (seconds <= Buckets[i]) counts[i]++;
            counts[^1]++;
            latencySum.AddOrUpdate(endpoint, seconds, (_, s) => s + seconds);
        }
    }

    public void Tokens(int prompt, int generated)
    {
        Interlocked.Add(ref promptTokens, prompt);
        Interlocked.Add(ref generatedTokens, generated);
    }

    /// <summary>Enumerates a completion's chunks, counting its tokens as they arrive (<see cref="MeteredChunks"/>).</summary>
    public MeteredChunks Meter(IAsyncEnumerable<CompletionChunk> chunks, CancellationToken cancellation) =>
        new(chunks.GetAsyncEnumerator(cancellation), this);

    public string Render()
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.Append("# HELP substrate_requests_total HTTP requests by endpoint and status.\n# TYPE substrate_requests_total counter\n");
        foreach (var ((endpoint, status), n) in requests.OrderBy(x => x.Key))
            text.Append(c, $"substrate_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}\n");
        text.Append("# HELP substrate_prompt_tokens_total Prompt tokens read.\n# TYPE substrate_prompt_tokens_total counter\n");
        text.Append(c, $"substrate_prompt_tokens_total {Interlocked.Read(ref promptTokens)}\n");
        text.Append("# HELP substrate_generated_tokens_total Tokens generated.\n# TYPE substrate_generated_tokens_total counter\n");
        text.Append(c, $"substrate_generated_tokens_total {Interlocked.Read(ref generatedTokens)}\n");
        text.Append("# HELP substrate_queue_depth Requests waiting for a batch slot.\n# TYPE substrate_queue_depth gauge\n");
        text.Append(c, $"substrate_queue_depth {engine.QueueDepth}\n");
        text.Append("# HELP substrate_active_sequences Sequences being decoded.\n# TYPE substrate_active_sequences gauge\n");
        text.Append(c, $"substrate_active_sequences {engine.ActiveSequences}\n");
        text.Append("# HELP substrate_request_duration_seconds Request latency (to the last byte).\n# TYPE substrate_request_duration_seconds histogram\n");
        foreach (var (endpoint, counts) in latency.OrderBy(x => x.Key))
            lock (counts)
            {
                for (var i = 0; i < Buckets.Length; i++)
                    text.Append(c, $"substrate_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{Buckets[i]}\"}} {counts[i]}\n");
                text.Append(c, $"substrate_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {counts[^1]}\n");
                text.Append(c, $"substrate_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {latencySum[endpoint]}\n");
                text.Append(c, $"substrate_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {counts[^1]}\n");
            }
        return text.ToString();
    }
}
