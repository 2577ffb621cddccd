using System.Text.Json;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Server.Wire;

/// <summary>
/// Reads a <c>/v1/chat/completions</c> body into a <see cref="CompletionRequest"/>. Every field, nested ones too, is
/// checked by type and range here, before anything reaches the engine; an error names the full parameter
/// (<c>messages[1].content[0].text</c>). Tools and response formats are read by <see cref="ChatToolsParser"/>.
/// </summary>
public static class ChatRequestParser
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static (CompletionRequest Request, bool Stream, bool IncludeUsage) Parse(RequestReader r, int context, GenerationDefaults modelDefaults)
    {
        var model = r.RequiredString("model");
        var stream = r.Bool("stream") ?? false;
        var includeUsage = r.Object("stream_options")?.Bool("include_usage") ?? false;
        var logprobs = r.Bool("logprobs") ?? false;
        var top = (int)(r.Integer("top_logprobs", 0, OpenAiLimits.MaxTopLogprobs) ?? 0);
        if (top > 0 && !logprobs) throw ApiException.Invalid("top_logprobs needs logprobs: true", "top_logprobs");
        r.String("user");
        var tools = ChatToolsParser.Tools(r);
        var request = new CompletionRequest
        {
            Model = model,
            Messages = Messages(r),
            Options = SamplingParameters.Read(r, context, modelDefaults),
            TopLogprobs = logprobs ? top : null,
            ResponseFormat = ChatToolsParser.Format(r),
            Tools = tools,
            ToolChoice = ChatToolsParser.Choice(r, tools),
        };
        return (request, stream, includeUsage);
    }

    private static List<ChatMessage> Messages(RequestReader r)
    {
        if (r.Array("messages") is not { } array || array.GetArrayLength() == 0)
            throw ApiException.Invalid("'messages' must be a non-empty array", "messages");
        return r.Objects("messages").Select(Message).ToList();
    }

    private static ChatMessage Message(RequestReader m)
    {
        var role = m.RequiredString("role");
        if (!Roles.Contains(role))
            throw ApiException.Invalid($"'{m.Param("role")}' must be one of {string.Join(", ", Roles)} (got '{role}')", m.Param("role"), "invalid_value");
        var content = Content(m);
        var calls = m.Array("tool_calls") is null ? null : m.Objects("tool_calls").Select(Call).ToList();
        if (content is null && calls is null) throw ApiException.Invalid($"'{m.Param("content")}' is required", m.Param("content"));
        return new ChatMessage(role == "developer" ? "system" : role, content ?? "", calls, m.String("tool_call_id"), m.String("name"));
    }

    /// <summary>A string, or an array of text parts joined; null when absent.</summary>
    private static string? Content(RequestReader m) => m.Get("content") switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Array } => string.Concat(m.Objects("content").Select(part =>
            part.RequiredString("type") == "text" ? part.RequiredString("text")
            : throw ApiException.Invalid($"'{part.Param("type")}': only text parts are supported", part.Param("type"), "unsupported_value"))),
        _ => throw ApiException.Invalid($"'{m.Param("content")}' must be a string or an array of parts", m.Param("content"), "invalid_type"),
    };

    private static ToolCall Call(RequestReader c)
    {
        ChatToolsParser.RequireFunctionType(c);
        var function = c.Object("function") ?? throw ApiException.Invalid($"'{c.Param("function")}' is required", c.Param("function"));
        var name = ChatToolsParser.Name(function);
        return new ToolCall(c.String("id") ?? "", name, function.String("arguments") ?? "{}");
    }
}
