using System.Text;
using System.Text.Json;
using Substrate.Tokenizers;

namespace Substrate.Inference;

/// <summary>A rendered conversation: the prompt text (special tokens as text, no BOS) and what ends the reply.</summary>
public sealed record ChatPrompt(string Text, IReadOnlyList<string> StopTokens, IReadOnlyList<string> StopStrings);

/// <summary>Renders chat messages (and tool definitions) into a prompt.</summary>
public interface IChatRenderer
{
    ChatPrompt Render(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition> tools);
}

/// <summary>
/// The fallback when no Jinja renderer is plugged in: Llama 3's header format
/// (<c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c>) when the vocabulary has those
/// tokens, else a plain "User: … / Assistant:" transcript. Tools are described in a system message; a tool call is
/// the JSON <c>{"name": …, "arguments": {…}}</c>, the way Llama 3.1's template asks for them.
/// </summary>
public sealed class ChatPromptRenderer(ITokenizer tokenizer) : IChatRenderer
{
    private readonly bool headers = tokenizer.TokenToId("<|start_header_id|>") is not null
        && tokenizer.TokenToId("<|end_header_id|>") is not null && tokenizer.TokenToId("<|eot_id|>") is not null;

    public ChatPrompt Render(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition> tools)
    {
        var turns = new List<(string Role, string Text)>();
        if (tools.Count > 0) turns.Add(("system", ToolsPrompt(tools)));
        foreach (var m in messages)
        {
            var text = m.Content ?? "";
            if (m.ToolCalls is { Count: > 0 } calls)
                text += string.Join("\n", calls.Select(c => $"{{\"name\": {JsonSerializer.Serialize(c.Name)}, \"arguments\": {c.Arguments}}}"));
            turns.Add((m.Role, text));
        }
        var prompt = new StringBuilder();
        if (headers)
        {
            foreach (var (role, text) in turns) prompt.Append($"<|start_header_id|>{role}<|end_header_id|>\n\n{text.Trim()}<|eot_id|>");
            prompt.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            return new ChatPrompt(prompt.ToString(), ["<|eot_id|>"], []);
        }
        foreach (var (role, text) in turns) prompt.Append($"{char.ToUpperInvariant(role[0])}{role[1..]}: {text.Trim()}\n");
        prompt.Append("Assistant:");
        return new ChatPrompt(prompt.ToString(), [], ["\nUser:"]);
    }

    internal static string ToolsPrompt(IReadOnlyList<ToolDefinition> tools)
    {
        var list = tools.Select(t => $"{{\"type\": \"function\", \"function\": {{\"name\": {JsonSerializer.Serialize(t.Name)}, " +
            $"\"description\": {JsonSerializer.Serialize(t.Description ?? "")}, \"parameters\": {t.ParametersSchema ?? "{}"}}}}}");
        return "You have access to these functions. To call one, reply with only a JSON object " +
               "{\"name\": function name, \"arguments\": {argument name: value}}.\n\n" + string.Join("\n", list);
    }
}
