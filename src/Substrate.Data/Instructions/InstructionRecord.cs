using System.Text.Json;
using Substrate.IO;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Data.Instructions;

/// <summary>One supervised example: a prompt/completion pair, or a chat whose assistant turns are the targets.
/// <see cref="Source"/> is "file:line" for error messages.</summary>
public abstract record InstructionRecord(string Source);

public sealed record PromptCompletionRecord(string Prompt, string Completion, string Source) : InstructionRecord(Source);

/// <summary>A chat; with <paramref name="Tools"/> the model is shown those tools (rendered as inference renders them).</summary>
public sealed record ChatRecord(IReadOnlyList<ChatMessage> Messages, string Source, IReadOnlyList<ToolDefinition>? Tools = null)
    : InstructionRecord(Source);

/// <summary>
/// Reads instruction JSONL (optionally .gz): <c>{"prompt","completion"}</c> or <c>{"messages":[{"role","content"}]}</c>
/// per line. Chats may carry tools in OpenAI's shape (<see cref="ChatToolFields"/>): <c>"tools"</c>, an assistant's
/// <c>"tool_calls"</c> and <c>"tool"</c> messages. Bad input — malformed JSON, a record of neither shape, an unknown role, a chat with no assistant
/// turn, an empty completion — is one <see cref="InvalidDataException"/> naming file:line.
/// </summary>
public static class InstructionFile
{
    public static readonly IReadOnlySet<string> Roles = new HashSet<string>(StringComparer.Ordinal) { "system", "user", "assistant", "tool" };

    public static List<InstructionRecord> Read(string path) =>
        JsonLines.Read(path).Select(r => Parse(r.Record, r.Source)).ToList();

    public static InstructionRecord Parse(string line, string source) => Parse(JsonLines.Parse(line, source), source);

    public static InstructionRecord Parse(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: a record must be a JSON object");
        if (root.TryGetProperty("messages", out var messages))
        {
            if (messages.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{source}: \"messages\" must be an array");
            var list = new List<ChatMessage>();
            foreach (var m in messages.EnumerateArray())
            {
                string role = String(m, "role", source), content = String(m, "content", source);
                if (!Roles.Contains(role))
                    throw new InvalidDataException($"{source}: unknown role '{role}' (expected system, user, assistant or tool)");
                list.Add(ChatToolFields.Message(m, role, content, source));
            }
            if (!list.Any(m => m.Role == "assistant")) throw new InvalidDataException($"{source}: the chat has no assistant turn to learn from");
            if (list.Any(m => m.Role == "assistant" && m.Content.Length == 0 && m.ToolCalls is not { Count: > 0 }))
                throw new InvalidDataException($"{source}: an assistant turn is empty");
            return new ChatRecord(list, source, ChatToolFields.Tools(root, source));
        }
        if (root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _))
        {
            string prompt = String(root, "prompt", source), completion = String(root, "completion", source);
            if (completion.Length == 0) throw new InvalidDataException($"{source}: the completion is empty");
            return new PromptCompletionRecord(prompt, completion, source);
        }
        throw new InvalidDataException($"{source}: expected {{\"prompt\",\"completion\"}} or {{\"messages\":[…]}}");
    }

    private static string String(JsonElement e, string name, string source)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v))
            throw new InvalidDataException($"{source}: missing \"{name}\"");
        if (v.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{source}: \"{name}\" must be a string");
        return v.GetString()!;
    }
}
