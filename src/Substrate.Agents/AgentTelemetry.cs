using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace Substrate.Agents;

/// <summary>
/// Where the loop's OpenTelemetry spans come from and where they go. The pipeline's OpenTelemetryChatClient emits a
/// <c>chat</c> span per model call (model, token counts, finish reason; with content: messages and tool calls), the
/// function invoker an <c>orchestrate_tools</c> span per request and an <c>execute_tool &lt;name&gt;</c> span per call,
/// all under <see cref="SourceName"/>.
/// </summary>
public static class AgentTelemetry
{
    public const string SourceName = "Substrate.Agents";

    /// <summary>A tracer provider for <c>--trace console|otlp</c> (OTLP: the exporter's standard OTEL_EXPORTER_OTLP_*
    /// variables, default http://localhost:4317), or null for no tracing.</summary>
    public static TracerProvider? Start(string? exporter)
    {
        if (exporter is null or "" or "none") return null;
        var builder = Sdk.CreateTracerProviderBuilder().AddSource(SourceName, "Experimental.Microsoft.Extensions.AI*", "*Microsoft.Agents.AI*");
        builder = exporter switch
        {
            "console" => builder.AddConsoleExporter(o => o.Targets = ConsoleExporterOutputTargets.Console),
            "otlp" => builder.AddOtlpExporter(),
            _ => throw new ArgumentException($"--trace must be console, otlp or none (got '{exporter}')"),
        };
        return builder.Build();
    }
}
