using System.Text.Json;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>
/// The one chat format of a model: how a conversation becomes prompt text and ids, and what ends the assistant's
/// turn. Fine-tuning, the server, <c>substrate chat</c>, evaluation and the <c>IChatClient</c> all render through it,
/// so a model is served exactly as it was trained. A model with a <c>chat_template</c> (tokenizer_config.json) uses
/// its template; a template-less model uses <see cref="Transcript"/>. A template that takes <c>tools</c> (Qwen 3,
/// Llama 3.1, Mistral) gets the tools, tool calls and tool results as structured values and describes them its own way
/// (<see cref="NativeTools"/>); otherwise tools are described in a leading system message (<see cref="ToolsPrompt"/> under
/// a template, the compact <see cref="CompactToolsPrompt"/> in the transcript) and a tool call is its JSON
/// text (<c>{"name": …, "arguments": {…}}</c>) in the assistant's content. Calls are read back by <see cref="ParseToolCalls"/>.
/// The turn ends at EOS or an end-of-turn token of the vocabulary, and in the transcript at the next "\nUser:" or "\nTool:" line.
/// </summary>
public sealed class ChatFormat
{
    /// <summary>The transcript of template-less models: system text, then "User: …" / "Assistant: …" lines.</summary>
    public const string Transcript =
        "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n{% elif m.role == 'user' %}User: {{ m.content }}\n"
        + "{% elif m.role == 'tool' %}Tool: {{ m.content }}\n{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}"
        + "{% if add_generation_prompt %}Assistant:{% endif %}";

    /// <summary>Where the transcript's assistant turn ends: the model starts the user's next line.</summary>
    public const string TranscriptStop = "\nUser:";

    /// <summary>Where a transcript turn that calls a tool ends: the model starts the tool's result line.</summary>
    public const string TranscriptToolStop = "\nTool:";

    private static readonly string[] EndOfTurnTokens = ["<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "</s>"];

    private readonly ITokenizer tokenizer;
    private readonly TokenizerConfig config;
    private readonly int[] addedPrefix; // what Encode(text, addSpecialTokens: true) puts before the text (e.g. BOS)

    public ChatFormat(ITokenizer tokenizer, TokenizerConfig config)
    {
        (this.tokenizer, this.config) = (tokenizer, config);
        UsesChatTemplate = !string.IsNullOrEmpty(config.ChatTemplate);
        Template = ChatTemplate.From(config) ?? new ChatTemplate(Transcript);
        addedPrefix = tokenizer.Encode("", addSpecialTokens: true);
        var ids = EndOfTurnTokens.Select(tokenizer.TokenToId).Append(tokenizer.Special.Eos).OfType<int>();
        StopIds = ids.Distinct().ToList();
        StopStrings = UsesChatTemplate ? [] : [TranscriptStop, TranscriptToolStop];
    }

    public bool UsesChatTemplate { get; }

    /// <summary>The model's chat template takes <c>tools</c>: it is handed tools and calls as values and the model's own
    /// call syntax is parsed back, rather than Substrate's system-message description.</summary>
    public bool NativeTools => UsesChatTemplate && Template.ReadsTools;

    /// <summary>The model's chat template, or the <see cref="Transcript"/> template.</summary>
    public ChatTemplate Template { get; }

    /// <summary>Ids that end the assistant's turn: EOS and the end-of-turn tokens the vocabulary has.</summary>
    public IReadOnlyList<int> StopIds { get; }

    /// <summary>Text that ends the assistant's turn (the transcript's next user line; none with a template).</summary>
    public IReadOnlyList<string> StopStrings { get; }

    /// <summary>The conversation as text (special tokens as text, a BOS only where the template writes one); with
    /// <paramref name="addGenerationPrompt"/>, up to where the assistant's reply begins. Throws
    /// <see cref="ChatTemplateException"/> when the template refuses the messages.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyList<ToolDefinition>? tools = null)
    {
        if (NativeTools) return Template.Render(messages, tools, addGenerationPrompt, config);
        var turns = new List<ChatMessage>(messages.Count + 1);
        if (tools is { Count: > 0 }) turns.Add(new ChatMessage("system", ToolsDescription(tools)));
        foreach (var m in messages)
            turns.Add(m.ToolCalls is { Count: > 0 } calls ? m with { Content = m.Content + string.Join("\n", calls.Select(ToolCallText)) } : m);
        return Template.Render(turns, addGenerationPrompt, config);
    }

    /// <summary>Encodes rendered text: special-token strings become their ids, nothing is added.</summary>
    public int[] Encode(string rendered)
    {
        if (rendered.Length == 0) return [];
        var ids = tokenizer.Encode(rendered, addSpecialTokens: true);
        return ids.AsSpan().StartsWith(addedPrefix) ? ids[addedPrefix.Length..] : ids;
    }

    /// <summary>The prompt ids of a conversation, up to the assistant's generation prompt.</summary>
    public int[] EncodePrompt(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools = null) =>
        Encode(Render(messages, addGenerationPrompt: true, tools));

    /// <summary>The tool calls in a reply (see <see cref="ToolCallSyntax"/>), or null when it is content.</summary>
    public IReadOnlyList<ToolCall>? ParseToolCalls(string output, IReadOnlyList<ToolDefinition> tools) => ToolCallSyntax.Parse(output, tools);

    /// <summary>A tool call as the model writes it: <c>{"name": "f", "arguments": {…}}</c>.</summary>
    public static string ToolCallText(ToolCall call) => $"{{\"name\": {JsonSerializer.Serialize(call.Name)}, \"arguments\": {call.Arguments}}}";

    /// <summary>The system message that describes <paramref name="tools"/> to this model when its template does not take
    /// them: the full JSON schemas under a template (a pretrained chat model reads them), one line a tool in the
    /// transcript of Substrate's own small models (the schemas would be most of every training chat).</summary>
    public string ToolsDescription(IReadOnlyList<ToolDefinition> tools) => UsesChatTemplate ? ToolsPrompt(tools) : CompactToolsPrompt(tools);

    /// <summary>The tools as "name(argument, …)" lines and how to call one: ~15 tokens a tool, not ~100.</summary>
    public static string CompactToolsPrompt(IReadOnlyList<ToolDefinition> tools) =>
        "Tools (to call one, reply with only {\"name\": tool, \"arguments\": {argument: value}}):\n"
        + string.Join("\n", tools.Select(t => $"{t.Name}({string.Join(", ", ArgumentNames(t.ParametersSchema))})"));

    // The property names of a JSON schema object, in order; none when the schema is absent, not JSON or has none.
    static IEnumerable<string> ArgumentNames(string? schema)
    {
        if (string.IsNullOrWhiteSpace(schema)) return [];
        try
        {
            using var doc = JsonDocument.Parse(schema);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("properties", out var p)
                && p.ValueKind == JsonValueKind.Object ? p.EnumerateObject().Select(x => x.Name).ToList() : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>The system message that describes the tools with their JSON schemas and how to call one.</summary>
    public static string ToolsPrompt(IReadOnlyList<ToolDefinition> tools)
    {
        var list = tools.Select(t => $"{{\"type\": \"function\", \"function\": {{\"name\": {JsonSerializer.Serialize(t.Name)}, " +
            $"\"description\": {JsonSerializer.Serialize(t.Description ?? "")}, \"parameters\": {t.ParametersSchema ?? "{}"}}}}}");
        return "You have access to these functions. To call one, reply with only a JSON object " +
               "{\"name\": function name, \"arguments\": {argument name: value}}.\n\n" + string.Join("\n", list);
    }
}
