using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Substrate.Server.Wire;

namespace Substrate.Server;

/// <summary>Server-sent events as OpenAI clients read them: <c>data: {json}\n\n</c> per chunk, then <c>data: [DONE]\n\n</c>;
/// a stream that fails after it started sends <c>data: {"error": {…}}</c> before <c>[DONE]</c>.</summary>
public sealed class ServerSentEvents(HttpResponse response)
{
    public void Start()
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public Task Send<T>(T chunk, CancellationToken cancellation) => Event(JsonSerializer.Serialize(chunk, WireJson.Options), cancellation);

    private async Task Event(string json, CancellationToken cancellation)
    {
        await response.WriteAsync("data: " + json + "\n\n", cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    public async Task Done(CancellationToken cancellation)
    {
        await response.WriteAsync("data: [DONE]\n\n", cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    /// <summary>The response is an event stream already under way (its status and headers sent).</summary>
    public static bool Started(HttpResponse response) => response.HasStarted && response.ContentType == "text/event-stream";

    /// <summary>Ends a started stream with OpenAI's error shape as an event, then <c>[DONE]</c>.</summary>
    public static async Task Fail(HttpResponse response, ApiException error)
    {
        var events = new ServerSentEvents(response);
        await events.Event(JsonSerializer.Serialize(ErrorBody.Of(error)), CancellationToken.None); // param and code stay, null or not
        await events.Done(CancellationToken.None);
    }
}
