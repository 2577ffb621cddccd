using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Substrate.Agents.Tests;

/// <summary>
/// A fake model that replies from a script, deterministically: each call takes the next reply (a tool call or text);
/// past the end of the script it repeats the last. It records the messages of every call, so a test can read what the
/// loop fed back.
/// </summary>
public sealed class ScriptedChatClient(params ScriptedChatClient.Reply[] script) : IChatClient
{
    public abstract record Reply;

    public sealed record Text(string Value) : Reply;

    public sealed record Call(string Name, Dictionary<string, object?> Arguments) : Reply;

    public static Call CallTool(string name, params (string Key, object? Value)[] arguments) =>
        new(name, arguments.ToDictionary(a => a.Key, a => a.Value));

    public List<List<ChatMessage>> Requests { get; } = [];

    /// <summary>The text of every tool result the loop sent back, in order.</summary>
    public IEnumerable<string> ToolResults => Requests.LastOrDefault()?.SelectMany(m => m.Contents).OfType<FunctionResultContent>()
        .Select(r => ToolGuard.ResultText(r.Result)) ?? [];

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        Requests.Add([.. messages]);
        var reply = script[Math.Min(Requests.Count - 1, script.Length - 1)];
        AIContent content = reply switch
        {
            Call call => new FunctionCallContent($"call-{Requests.Count}", call.Name, call.Arguments),
            Text text => new TextContent(text.Value),
            _ => throw new InvalidOperationException(),
        };
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [content]))
        {
            ModelId = "scripted", FinishReason = reply is Call ? ChatFinishReason.ToolCalls : ChatFinishReason.Stop,
        });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates())
            yield return update;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() { }
}
