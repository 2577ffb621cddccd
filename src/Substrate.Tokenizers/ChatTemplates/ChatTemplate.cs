using System.Text.Json;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>
/// A Hugging Face chat template (the Jinja <c>chat_template</c> of tokenizer_config.json), parsed once and
/// rendered like transformers' <c>apply_chat_template</c> (trim_blocks, lstrip_blocks): variables
/// <c>messages</c>, <c>bos_token</c>, <c>eos_token</c>, <c>add_generation_prompt</c>, <c>raise_exception</c>.
/// The Jinja subset real templates use: for/if/elif/else/set, loop.*, filters (trim, length, …),
/// tests (defined, none, string), string methods, slices, <c>+ ~ in not and or</c>, conditional expressions.
/// </summary>
public sealed class ChatTemplate
{
    private readonly List<Node> nodes;

    public ChatTemplate(string source)
    {
        Source = source;
        nodes = JinjaParser.Parse(source);
        ReadsTools = JinjaLexer.Split(source).Any(p => ((p as OutputPiece)?.Tokens ?? (p as TagPiece)?.Tokens ?? [])
            .Any(t => t.Kind == TokenKind.Name && t.Text == "tools"));
    }

    public string Source { get; }

    /// <summary>The template of a tokenizer_config.json, or null when it has none.</summary>
    public static ChatTemplate? From(TokenizerConfig config) =>
        string.IsNullOrEmpty(config.ChatTemplate) ? null : new ChatTemplate(config.ChatTemplate);

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? bosToken = null, string? eosToken = null,
        IReadOnlyDictionary<string, object?>? extra = null)
    {
        var globals = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = bosToken ?? "",
            ["eos_token"] = eosToken ?? "",
        };
        if (extra is not null) foreach (var (k, v) in extra) globals[k] = v;
        return new JinjaRenderer(globals, Now).Render(nodes);
    }

    /// <summary>
    /// Renders a conversation given as JSON in the shape of OpenAI's API and transformers' apply_chat_template
    /// (<paramref name="messages"/> an array, <paramref name="tools"/> an array or undefined), with the variables
    /// transformers.js passes: messages, add_generation_prompt, tools and documents (null when absent), and the
    /// config's special tokens that are set.
    /// </summary>
    public string Render(JsonElement messages, JsonElement tools, bool addGenerationPrompt, TokenizerConfig config)
    {
        if (messages.ValueKind != JsonValueKind.Array) throw new ArgumentException("messages must be a JSON array", nameof(messages));
        return RenderValues(JinjaValues.FromJson(messages), tools.ValueKind == JsonValueKind.Undefined ? null : JinjaValues.FromJson(tools),
            addGenerationPrompt, config);
    }

    /// <summary>Renders messages and tools in OpenAI's shape, with tool calls and tools as structured values (see
    /// <see cref="ChatToolValues"/>), the way a template that takes <c>tools</c> expects them.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools, bool addGenerationPrompt, TokenizerConfig config) =>
        RenderValues(ChatToolValues.Messages(messages), tools is { Count: > 0 } ? ChatToolValues.Tools(tools) : null, addGenerationPrompt, config);

    private string RenderValues(object? messages, object? tools, bool addGenerationPrompt, TokenizerConfig config)
    {
        var globals = new Dictionary<string, object?>
        {
            ["messages"] = messages, ["add_generation_prompt"] = addGenerationPrompt, ["tools"] = tools, ["documents"] = null,
        };
        foreach (var (name, value) in new[] { ("bos_token", config.BosToken), ("eos_token", config.EosToken), ("unk_token", config.UnkToken),
                     ("pad_token", config.PadToken) })
        {
            if (!string.IsNullOrEmpty(value)) globals[name] = value;
        }
        return new JinjaRenderer(globals, Now).Render(nodes);
    }

    /// <summary>The clock <c>strftime_now</c> reads (default: local time now); set it for a deterministic render.</summary>
    public Func<DateTime>? Now { get; init; }

    /// <summary>True when the template reads the <c>tools</c> variable: it describes tools to the model itself.</summary>
    public bool ReadsTools { get; }

    /// <summary>Renders with the special-token strings of <paramref name="config"/>.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, TokenizerConfig config) =>
        Render(messages, addGenerationPrompt, config.BosToken, config.EosToken);
}
