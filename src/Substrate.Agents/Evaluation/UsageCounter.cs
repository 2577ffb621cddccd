using Microsoft.Extensions.AI;

namespace Substrate.Agents.Evaluation;

/// <summary>Counts a model's calls and the tokens they report (prompt and completion), between the agent loop and the model.</summary>
sealed class UsageCounter(IChatClient inner) : DelegatingChatClient(inner)
{
    public int Calls { get; private set; }
    public long PromptTokens { get; private set; }
    public long CompletionTokens { get; private set; }

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        Calls++;
        var response = await base.GetResponseAsync(messages, options, cancellationToken);
        Add(response.Usage);
        return response;
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Calls++;
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            foreach (var usage in update.Contents.OfType<UsageContent>()) Add(usage.Details);
            yield return update;
        }
    }

    void Add(UsageDetails? usage)
    {
        PromptTokens += usage?.InputTokenCount ?? 0;
        CompletionTokens += usage?.OutputTokenCount ?? 0;
    }
}
