using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Substrate.Inference;

namespace Substrate.Server;

/// <summary>
/// The OpenAI-compatible server: <c>/v1/chat/completions</c>, <c>/v1/completions</c>, <c>/v1/embeddings</c>,
/// <c>/v1/models</c>, plus <c>/health</c> and Prometheus <c>/metrics</c> (these two without authentication).
/// One <see cref="IInferenceEngine"/> serves every request; its scheduler batches them.
/// </summary>
public sealed class SubstrateServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private SubstrateServer(WebApplication app) => this.app = app;

    public static SubstrateServer Create(IInferenceEngine engine, ServerOptions options, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        var metrics = new ServerMetrics(engine);
        builder.Services.AddSingleton(engine).AddSingleton(metrics).AddSingleton(options);
        var app = builder.Build();
        app.Use((context, next) => Guard(context, next, options, metrics));
        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.Handle);
        app.MapPost("/v1/completions", CompletionsEndpoint.Handle);
        app.MapPost("/v1/embeddings", EmbeddingsEndpoint.Handle);
        app.MapGet("/v1/models", () => Results.Json(new WireModelList(engine.Models.Select(Model).ToList()), WireJson.Options));
        app.MapGet("/v1/models/{**id}", (string id) => engine.Models.Contains(id) ? Results.Json(Model(id), WireJson.Options)
            : throw new UnknownModelException(id, engine.Models));
        app.MapGet("/health", () => Results.Json(new { status = "ok", models = engine.Models, queue_depth = engine.QueueDepth, active_sequences = engine.ActiveSequences }));
        app.MapGet("/metrics", () => Results.Text(metrics.Render(), "text/plain; version=0.0.4"));
        app.MapFallback((HttpContext context) => throw new ApiException(404, $"no route {context.Request.Method} {context.Request.Path}", code: "not_found"));
        return new SubstrateServer(app);
    }

    private static WireModel Model(string id) => new(id, 0, "substrate");

    /// <summary>Every request: API key, body size, OpenAI-style errors, metrics.</summary>
    private static async Task Guard(HttpContext context, RequestDelegate next, ServerOptions options, ServerMetrics metrics)
    {
        var clock = Stopwatch.StartNew();
        var path = context.Request.Path.Value ?? "";
        try
        {
            if (path.StartsWith("/v1/", StringComparison.Ordinal) && options.ApiKeys.Count > 0)
            {
                var header = context.Request.Headers.Authorization.ToString();
                var key = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
                if (key is null || !options.ApiKeys.Any(k => FixedTimeEquals(k, key)))
                    throw new ApiException(401, "invalid or missing API key (Authorization: Bearer <key>)", code: "invalid_api_key");
            }
            if (context.Request.ContentLength > options.MaxRequestBytes)
                throw new ApiException(413, $"the request body is larger than {options.MaxRequestBytes} bytes", code: "request_too_large");
            await next(context);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away; its sequence has been cancelled.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            await ErrorBody.Write(context, ApiException.From(e) ?? new ApiException(500, $"internal error: {e.Message}", "server_error"));
        }
        finally
        {
            metrics.Request(EndpointLabel(path), context.Response.StatusCode, clock.Elapsed.TotalSeconds);
        }
    }

    private static string EndpointLabel(string path) => path switch
    {
        "/v1/chat/completions" or "/v1/completions" or "/v1/embeddings" or "/v1/models" or "/health" or "/metrics" => path,
        _ when path.StartsWith("/v1/models/", StringComparison.Ordinal) => "/v1/models/{id}",
        _ => "other",
    };

    private static bool FixedTimeEquals(string a, string b) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));

    public Task StartAsync(CancellationToken cancellation = default) => app.StartAsync(cancellation);

    /// <summary>Completes when the server is asked to stop: <paramref name="cancellation"/>, or SIGINT/SIGTERM (the
    /// host handles those signals itself and stops; the process must then return from Main).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellation = default)
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
        cancellation.Register(() => stopped.TrySetResult());
        return stopped.Task;
    }

    /// <summary>The addresses actually bound (port 0 resolved).</summary>
    public IReadOnlyList<string> Urls => app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
