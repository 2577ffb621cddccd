using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Substrate.Server;

/// <summary>Server-sent events as OpenAI clients read them: <c>data: {json}\n\n</c> per chunk, then <c>data: [DONE]\n\n</c>.</summary>
public sealed class ServerSentEvents(HttpResponse response)
{
    public void Start()
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public async Task Send<T>(T chunk, CancellationToken cancellation)
    {
        await response.WriteAsync("data: " + JsonSerializer.Serialize(chunk, WireJson.Options) + "\n\n", cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    public async Task Done(CancellationToken cancellation)
    {
        await response.WriteAsync("data: [DONE]\n\n", cancellation);
        await response.Body.FlushAsync(cancellation);
    }
}
