using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Answering;

/// <summary>A retrieved chunk as the prompt numbers it ([1], [2], …).</summary>
public sealed record RagSource(int Number, StoredChunk Chunk, double Score)
{
    /// <summary>The chunk's first words, on one line.</summary>
    public string Snippet(int chars = 160)
    {
        var text = string.Join(' ', Chunk.Text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return text.Length <= chars ? text : text[..chars].TrimEnd() + "…";
    }
}

/// <summary>An answer, the sources it was given, and those it cited by number (all of them when it cited none).</summary>
public sealed record RagAnswer(string Text, IReadOnlyList<RagSource> Sources, IReadOnlyList<RagSource> Cited);

/// <summary>
/// Retrieval-augmented answers: the question's top chunks are numbered into the prompt, the chat client (for a Substrate
/// model, <c>SubstrateChatClient</c>, which renders the model's one chat format) streams the answer, and the sources
/// the answer cites as [n] are returned with it.
/// </summary>
public sealed partial class RagAnswerer(IChatClient chat, ChunkRetriever retriever, int top = 3, SearchMode mode = SearchMode.Hybrid,
    int maxSourceChars = 1200)
{
    public const string Instructions =
        "Answer the question using only the numbered sources. Cite the sources you use as [1], [2]. "
        + "If the sources do not contain the answer, say that you do not know.";

    public async Task<RagAnswer> AskAsync(string question, Action<string>? onText = null, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var hits = await retriever.SearchAsync(question, top, mode, cancellationToken: cancellationToken);
        var sources = hits.Select((h, i) => new RagSource(i + 1, h.Chunk, h.Score)).ToList();
        var answer = new StringBuilder();
        await foreach (var update in chat.GetStreamingResponseAsync(Prompt(question, sources, maxSourceChars), options, cancellationToken))
        {
            if (update.Text.Length == 0) continue;
            answer.Append(update.Text);
            onText?.Invoke(update.Text);
        }
        var text = answer.ToString();
        var cited = Citations(text).Where(n => n >= 1 && n <= sources.Count).Select(n => sources[n - 1]).ToList();
        return new RagAnswer(text, sources, cited.Count > 0 ? cited : sources);
    }

    /// <summary>The messages the model sees: the instructions as the system turn; the numbered sources (with where each
    /// comes from) and the question as the user turn.</summary>
    public static List<ChatMessage> Prompt(string question, IReadOnlyList<RagSource> sources, int maxSourceChars = 1200)
    {
        var user = new StringBuilder("Sources:\n");
        foreach (var source in sources)
        {
            var text = source.Chunk.Text.Length <= maxSourceChars ? source.Chunk.Text : source.Chunk.Text[..maxSourceChars] + "…";
            var name = Path.GetFileName(source.Chunk.Path);
            var where = source.Chunk.Position.Length > 0 ? $"{name}, {source.Chunk.Position}" : name;
            user.Append($"[{source.Number}] ({where}) {text}\n\n");
        }
        user.Append($"Question: {question.Trim()}");
        return [new ChatMessage(ChatRole.System, Instructions), new ChatMessage(ChatRole.User, user.ToString())];
    }

    /// <summary>The source numbers an answer cites, in order of first citation: [2], [1, 3] and [1][3] all count.</summary>
    public static List<int> Citations(string answer) =>
        Citation().Matches(answer).SelectMany(m => m.Groups[1].Value.Split(',')).Select(n => int.Parse(n.Trim())).Distinct().ToList();

    [GeneratedRegex(@"\[(\d+(?:\s*,\s*\d+)*)\]")]
    private static partial Regex Citation();
}
