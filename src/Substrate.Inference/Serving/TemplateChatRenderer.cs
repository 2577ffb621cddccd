using System.Text.Json;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Inference;

/// <summary>
/// Renders chats with the model's own Jinja chat template (tokenizer_config.json), as transformers'
/// apply_chat_template does with add_generation_prompt. Tools are described in a leading system message (any
/// template can show that); assistant tool calls become their JSON text, tool results a "tool" turn. A leading BOS
/// written by the template is dropped (encoding adds it). The reply ends at EOS or an end-of-turn token the
/// vocabulary has (&lt;|eot_id|&gt;, &lt;|im_end|&gt;, &lt;end_of_turn&gt;).
/// </summary>
public sealed class TemplateChatRenderer(ChatTemplate template, TokenizerConfig config, IReadOnlyList<string> stopTokens) : IChatRenderer
{
    private static readonly string[] EndOfTurn = ["<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>"];

    public static TemplateChatRenderer? From(ITokenizer tokenizer, TokenizerConfig config) =>
        ChatTemplate.From(config) is { } template
            ? new TemplateChatRenderer(template, config, EndOfTurn.Where(t => tokenizer.TokenToId(t) is not null).ToList())
            : null;

    public ChatPrompt Render(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition> tools)
    {
        var turns = new List<ChatMessage>();
        if (tools.Count > 0) turns.Add(new ChatMessage("system", ChatPromptRenderer.ToolsPrompt(tools)));
        foreach (var m in messages)
        {
            var text = m.Content ?? "";
            if (m.ToolCalls is { Count: > 0 } calls)
                text += string.Join("\n", calls.Select(c => $"{{\"name\": {JsonSerializer.Serialize(c.Name)}, \"arguments\": {c.Arguments}}}"));
            turns.Add(new ChatMessage(m.Role, text));
        }
        string rendered;
        try { rendered = template.Render(turns, addGenerationPrompt: true, config); }
        catch (Exception e) when (e is not OutOfMemoryException) { throw new ArgumentException($"the model's chat template refused the messages: {e.Message}", e); }
        if (config.BosToken is { Length: > 0 } bos && rendered.StartsWith(bos, StringComparison.Ordinal)) rendered = rendered[bos.Length..];
        return new ChatPrompt(rendered, stopTokens, []);
    }
}
