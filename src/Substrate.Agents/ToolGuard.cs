using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Substrate.Agents;

/// <summary>
/// The <see cref="FunctionInvokingChatClient.FunctionInvoker"/> of the loop: every tool call runs here. A call past its
/// timeout, a tool that throws, and arguments that do not bind become an error result the model reads ("error: …"),
/// never an exception out of the loop; only the caller's cancellation ends the run. A result longer than the cap is cut
/// with a note. A failure of a tool whose source is gone (an MCP server that died) ends the loop cleanly
/// (<see cref="FunctionInvocationContext.Terminate"/>) and is remembered in <see cref="StoppedBy"/>.
/// </summary>
public sealed class ToolGuard(AgentOptions options, Func<AIFunction, ValueTask<string?>>? sourceGone = null)
{
    /// <summary>Why the loop was stopped by a tool (null while it was not).</summary>
    public string? StoppedBy { get; private set; }

    public async ValueTask<object?> InvokeAsync(FunctionInvocationContext context, CancellationToken cancellationToken)
    {
        var name = context.Function.Name;
        object? result;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ToolTimeout);
            // WaitAsync: a tool that ignores its token still cannot hold the loop past the timeout.
            result = await context.Function.InvokeAsync(context.Arguments, timeout.Token).AsTask()
                .WaitAsync(options.ToolTimeout, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is OperationCanceledException or TimeoutException)
        {
            return $"error: {name} timed out after {options.ToolTimeout.TotalSeconds:0.###} s";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (sourceGone is not null && await sourceGone(context.Function) is { } gone)
            {
                StoppedBy = $"{gone} during a call to {name}: {e.Message}";
                context.Terminate = true;
                return $"error: {StoppedBy}";
            }
            return $"error: {name} failed: {e.Message}";
        }
        return Cap(ResultText(result), options.MaxToolResultChars);
    }

    /// <summary>A tool's result as the text the model reads: strings as they are, MCP results as their text content.</summary>
    public static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        TextContent t => t.Text,
        IEnumerable<AIContent> contents => string.Join('\n', contents.Select(c => c is TextContent t ? t.Text : ResultText(c as object))),
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        JsonElement e when McpText(e) is { } text => text,
        JsonElement e => e.GetRawText(),
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions), // what M.E.AI itself would send
    };

    /// <summary>An MCP CallToolResult's text blocks joined ("error: " before them where isError is set); null for other JSON.</summary>
    static string? McpText(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array)
            return null;
        var texts = content.EnumerateArray()
            .Select(c => c.TryGetProperty("text", out var t) ? t.GetString() : c.GetRawText());
        var text = string.Join('\n', texts);
        return e.TryGetProperty("isError", out var isError) && isError.ValueKind == JsonValueKind.True ? "error: " + text : text;
    }

    public static string Cap(string text, int maxChars) =>
        text.Length <= maxChars ? text
        : text[..maxChars] + $"\n[truncated: the result has {text.Length:N0} characters, the first {maxChars:N0} are shown]";
}
