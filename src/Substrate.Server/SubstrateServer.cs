using System.Diagnostics;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Retrieval.Embeddings;
using Substrate.Server.Endpoints;
using Substrate.Server.Storage;
using Substrate.Server.Wire;

namespace Substrate.Server;

/// <summary>
/// The OpenAI-compatible server: <c>/v1/chat/completions</c>, <c>/v1/completions</c>, <c>/v1/embeddings</c>,
/// <c>/v1/models</c>, the files and vector stores of file search (<c>/v1/files</c>, <c>/v1/vector_stores</c>), plus
/// <c>/health</c> and Prometheus <c>/metrics</c> (these two without authentication).
/// One <see cref="IInferenceEngine"/> serves every request; its scheduler batches them. File search embeds with
/// <c>fileSearchEmbedder</c>, by default MiniLM (loaded on first use, disposed with the server).
/// </summary>
public sealed class SubstrateServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly Lazy<IEmbeddingGenerator<string, Embedding<float>>> ownEmbedder;

    private SubstrateServer(WebApplication app, Lazy<IEmbeddingGenerator<string, Embedding<float>>> ownEmbedder) =>
        (this.app, this.ownEmbedder) = (app, ownEmbedder);

    public static SubstrateServer Create(IInferenceEngine engine, ServerOptions options, Action<ILoggingBuilder>? logging = null,
        IEmbeddingGenerator<string, Embedding<float>>? fileSearchEmbedder = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        var metrics = new ServerMetrics(engine);
        var ownEmbedder = new Lazy<IEmbeddingGenerator<string, Embedding<float>>>(() => new MiniLmEmbeddingGenerator());
        builder.Services.AddSingleton(engine).AddSingleton(metrics).AddSingleton(options)
            .AddSingleton(_ => new FileSearchStorage(options.DataDir, () => fileSearchEmbedder ?? ownEmbedder.Value));   // made on first use
        ApiKeyAuthentication.AddTo(builder.Services, options.ApiKeys);
        var app = builder.Build();
        app.Use((context, next) => Guard(context, next, options, metrics));
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.Handle);
        app.MapPost("/v1/completions", CompletionsEndpoint.Handle);
        app.MapPost("/v1/embeddings", EmbeddingsEndpoint.Handle);
        app.MapGet("/v1/models", () => Results.Json(new WireModelList(engine.Models.Select(Model).ToList()), WireJson.Options));
        app.MapGet("/v1/models/{**id}", (string id) => engine.Models.Contains(id) ? Results.Json(Model(id), WireJson.Options)
            : throw new UnknownModelException(id, engine.Models));
        MapFileSearch(app);
        app.MapGet("/health", () => Results.Json(new { status = "ok", models = engine.Models, queue_depth = engine.QueueDepth,
            active_sequences = engine.ActiveSequences })).AllowAnonymous();
        app.MapGet("/metrics", () => Results.Text(metrics.Render(), "text/plain; version=0.0.4")).AllowAnonymous();
        app.MapFallback((HttpContext context) => throw new ApiException(404, $"no route {context.Request.Method} {context.Request.Path}", code: "not_found"));
        return new SubstrateServer(app, ownEmbedder);
    }

    private static void MapFileSearch(WebApplication app)
    {
        app.MapPost("/v1/files", FilesEndpoint.Upload);
        app.MapGet("/v1/files", FilesEndpoint.List);
        app.MapGet("/v1/files/{id}", FilesEndpoint.Get);
        app.MapDelete("/v1/files/{id}", FilesEndpoint.Delete);
        app.MapPost("/v1/vector_stores", VectorStoresEndpoint.Create);
        app.MapGet("/v1/vector_stores", VectorStoresEndpoint.List);
        app.MapGet("/v1/vector_stores/{id}", VectorStoresEndpoint.Get);
        app.MapDelete("/v1/vector_stores/{id}", VectorStoresEndpoint.Delete);
        app.MapPost("/v1/vector_stores/{id}/files", VectorStoresEndpoint.AttachFile);
        app.MapGet("/v1/vector_stores/{id}/files", VectorStoresEndpoint.ListFiles);
        app.MapDelete("/v1/vector_stores/{id}/files/{fileId}", VectorStoresEndpoint.DetachFile);
        app.MapPost("/v1/vector_stores/{id}/search", VectorStoresEndpoint.Search);
    }

    private static WireModel Model(string id) => new(id, 0, "substrate");

    /// <summary>
    /// Every request: body size, OpenAI-style errors, metrics. The API key is checked after routing, on the endpoint it
    /// resolved to (<see cref="ApiKeyAuthentication"/>).
    /// </summary>
    private static async Task Guard(HttpContext context, RequestDelegate next, ServerOptions options, ServerMetrics metrics)
    {
        var clock = Stopwatch.StartNew();
        try
        {
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
            await ErrorBody.Write(context, ApiException.From(e) ?? Internal(context, e));
        }
        catch (Exception e) when (ServerSentEvents.Started(context.Response))
        {
            // A stream that fails after it started ends with an error event and [DONE], never a silent cut.
            await ServerSentEvents.Fail(context.Response, ApiException.From(e) ?? Internal(context, e));
        }
        finally
        {
            metrics.Request(EndpointLabel(context), context.Response.StatusCode, clock.Elapsed.TotalSeconds);
        }
    }

    /// <summary>A 500 whose body says nothing of the exception (its message may carry libtorch's C++ frames, file paths, the
    /// exception type); the details go to the server's log.</summary>
    private static ApiException Internal(HttpContext context, Exception e)
    {
        context.RequestServices.GetService<ILoggerFactory>()?.CreateLogger<SubstrateServer>()
            .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
        return new ApiException(500, "the server failed to complete this request (an internal error; the server log has the details)",
            "server_error", code: "internal_error");
    }

    /// <summary>The route the request resolved to (so "/V1/Models" counts as /v1/models), "other" for the fallback.</summary>
    private static string EndpointLabel(HttpContext context) => context.GetEndpoint() switch
    {
        RouteEndpoint { RoutePattern.RawText: "/v1/models/{**id}" } => "/v1/models/{id}",
        RouteEndpoint { RoutePattern.RawText: { } route } when route.StartsWith('/') => route,
        _ => "other",
    };

    /// <summary>The routing table: each route's pattern, its HTTP methods and whether it is served without an API key.</summary>
    public IReadOnlyList<ServerRoute> Routes => app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
        .Select(e => new ServerRoute(e.RoutePattern.RawText ?? "", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [],
            e.Metadata.GetMetadata<IAllowAnonymous>() is not null))
        .ToList();

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
        if (ownEmbedder.IsValueCreated) ownEmbedder.Value.Dispose();
    }
}
