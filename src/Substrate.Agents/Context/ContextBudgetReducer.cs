using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Substrate.Agents.Context;

/// <summary>What to do with the oldest turns when the history is over the budget.</summary>
public enum ContextPolicy
{
    /// <summary>Leave them out, with a short note saying how many were left out.</summary>
    Drop,

    /// <summary>Ask the model for a short summary of them and send it in their place.</summary>
    Summarize,
}

/// <summary>
/// Keeps the messages sent to the model within a token budget (an M.E.AI <see cref="IChatReducer"/>, run before each
/// model call by <see cref="ReducingChatClient"/>, so every tool round is checked; the stored conversation keeps
/// everything). When the messages count more than <see cref="Budget"/> tokens, the oldest whole units are left out:
/// an earlier turn (a user message and all that answered it) goes whole, and inside the current turn an assistant
/// message goes with the tool results that answer its calls. Leading system messages, the current goal and the latest
/// unit are always kept. In their place goes one system note: that they were dropped, or the model's summary of them.
/// </summary>
public sealed class ContextBudgetReducer(int budget, Func<string, int> countTokens, ContextPolicy policy = ContextPolicy.Drop,
    IChatClient? summarizer = null) : IChatReducer
{
    /// <summary>Tokens a message costs beyond its text (role header and end marker in a chat template).</summary>
    public const int MessageOverhead = 4;

    public int Budget => budget;

    /// <summary>The budget of a model: its context minus the reply's tokens and what the instructions and the tool
    /// definitions cost (sent with every call, outside the messages).</summary>
    public static int BudgetFor(int context, int maxOutputTokens, string? instructions, IEnumerable<AITool> tools, Func<string, int> countTokens)
    {
        var fixedCost = (instructions is null ? 0 : countTokens(instructions) + MessageOverhead)
            + tools.OfType<AIFunctionDeclaration>().Sum(t => countTokens(t.Name + t.Description + t.JsonSchema.GetRawText()));
        return context - maxOutputTokens - fixedCost;
    }

    /// <summary>A character estimate for a model whose tokenizer is not at hand (an endpoint): 4 characters a token.</summary>
    public static int EstimateTokens(string text) => (text.Length + 3) / 4;

    public int Count(ChatMessage message) => MessageOverhead + countTokens(Text(message));

    public async Task<IEnumerable<ChatMessage>> ReduceAsync(IEnumerable<ChatMessage> messages, CancellationToken cancellationToken)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        var costs = list.Select(Count).ToArray();
        var total = costs.Sum();
        if (total <= budget) return list;
        var (units, droppable) = Units(list);
        // Drop from the oldest unit until the rest and the note fit (the note's cost is known once it is written).
        var dropped = 0;
        var noteCost = 0;
        ChatMessage? note = null;
        while (true)
        {
            while (dropped < droppable && total + noteCost > budget)
            {
                var (start, end) = units[dropped++];
                for (var i = start; i < end; i++) total -= costs[i];
            }
            if (dropped == 0) return list;
            note = await NoteAsync([.. Indexes(units.Take(dropped)).Select(i => list[i])], cancellationToken);
            noteCost = Count(note);
            if (total + noteCost <= budget || dropped == droppable) break;
        }
        var gone = Indexes(units.Take(dropped)).ToHashSet(); // the goal sits between the earlier turns and the current turn's units
        var kept = new List<ChatMessage>();
        for (var i = 0; i < list.Count; i++)
        {
            if (i == units[0].Start) kept.Add(note);
            if (!gone.Contains(i)) kept.Add(list[i]);
        }
        return kept;
    }

    static IEnumerable<int> Indexes(IEnumerable<(int Start, int End)> units) => units.SelectMany(u => Enumerable.Range(u.Start, u.End - u.Start));

    /// <summary>
    /// The units of <paramref name="messages"/>, oldest first, as [start, end) ranges: each earlier turn whole, then
    /// inside the current turn (after the last user message, which is not a unit: the goal stays) each assistant message
    /// with the tool results after it; and how many may go: all but the current turn's last.
    /// </summary>
    static (List<(int Start, int End)> Units, int Droppable) Units(IList<ChatMessage> messages)
    {
        var first = 0;
        while (first < messages.Count && messages[first].Role == ChatRole.System) first++;
        var goal = -1;
        for (var i = messages.Count - 1; i >= first && goal < 0; i--)
            if (messages[i].Role == ChatRole.User) goal = i;
        var units = new List<(int, int)>();
        var start = first;
        for (var i = first + 1; goal >= 0 && i <= goal; i++)
            if (messages[i].Role == ChatRole.User)
            {
                units.Add((start, i));
                start = i;
            }
        var earlier = units.Count;
        start = goal < 0 ? first : goal + 1;
        for (var i = start + 1; i <= messages.Count; i++)
            if (i == messages.Count || messages[i].Role == ChatRole.Assistant)
            {
                if (i > start) units.Add((start, i));
                start = i;
            }
        return (units, earlier + Math.Max(0, units.Count - earlier - 1));
    }

    async Task<ChatMessage> NoteAsync(List<ChatMessage> gone, CancellationToken cancellationToken)
    {
        var what = gone.Count == 1 ? "1 earlier message" : $"{gone.Count} earlier messages";
        if (policy == ContextPolicy.Drop || summarizer is null)
            return new ChatMessage(ChatRole.System, $"[{what} were left out to fit the model's context.]");
        var request = new List<ChatMessage>(gone.Select(m => new ChatMessage(m.Role == ChatRole.Tool ? ChatRole.User : m.Role, Text(m))))
        {
            new(ChatRole.User, "Summarize the conversation above in a few sentences: the facts, questions and answers that matter later."),
        };
        var summary = await summarizer.GetResponseAsync(request, new ChatOptions { Temperature = 0, MaxOutputTokens = 200 }, cancellationToken);
        return new ChatMessage(ChatRole.System, $"[Summary of {what} left out to fit the model's context: {summary.Text.Trim()}]");
    }

    /// <summary>All a message says, as the model reads it: text, tool calls (name and JSON arguments), tool results.</summary>
    public static string Text(ChatMessage message)
    {
        var text = new StringBuilder();
        foreach (var content in message.Contents)
            text.Append(content switch
            {
                TextContent t => t.Text,
                FunctionCallContent c => c.Name + JsonSerializer.Serialize(c.Arguments), // compact, as the chat format writes it
                FunctionResultContent r => ToolGuard.ResultText(r.Result),
                _ => "",
            });
        return text.ToString();
    }
}
