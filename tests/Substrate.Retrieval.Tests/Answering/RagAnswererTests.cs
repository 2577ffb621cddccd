using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Substrate.Retrieval.Answering;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Answering;

public class RagAnswererTests
{
    /// <summary>Records the messages it is sent and streams a fixed answer in pieces.</summary>
    sealed class ScriptedChat(params string[] pieces) : IChatClient
    {
        public List<ChatMessage> Seen { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            Seen.AddRange(messages);
            foreach (var piece in pieces)
            {
                await Task.Yield();
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece);
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }

    [Fact]
    public async Task NumberedSourcesGoIntoThePromptAndCitedOnesComeBack()
    {
        using var folder = new TempFolder();
        using var store = ChunkStore.Open(folder.File("store.db"));
        store.ReplaceDocument("/docs/sea.md", "a", [("Whales", "Whales sing in the deep sea."), ("Ships", "Ships sail at dawn.")], null);
        store.ReplaceDocument("/docs/bread.txt", "b", [("", "Bread is baked at dawn.")], null);
        var chat = new ScriptedChat("They sing", " in the deep sea [1].");
        var streamed = new List<string>();
        var answer = await new RagAnswerer(chat, new ChunkRetriever(store, null), top: 2, mode: SearchMode.Bm25)
            .AskAsync("Where do whales sing at dawn?", streamed.Add);

        Assert.Equal(["They sing", " in the deep sea [1]."], streamed);
        Assert.Equal("They sing in the deep sea [1].", answer.Text);
        Assert.Equal([ChatRole.System, ChatRole.User], chat.Seen.Select(m => m.Role));
        Assert.Equal(RagAnswerer.Instructions, chat.Seen[0].Text);
        Assert.Equal("Sources:\n[1] (sea.md, Whales) Whales sing in the deep sea.\n\n[2] (sea.md, Ships) Ships sail at dawn.\n\n"
            + "Question: Where do whales sing at dawn?", chat.Seen[1].Text);
        var cited = Assert.Single(answer.Cited);
        Assert.Equal((1, "/docs/sea.md", "Whales"), (cited.Number, cited.Chunk.Path, cited.Chunk.Position));
        Assert.Equal(2, answer.Sources.Count);
    }

    [Fact]
    public void CitationsAreReadInTheirCommonForms()
    {
        Assert.Equal([2, 1, 3], RagAnswerer.Citations("See [2] and [1, 3]; also [1][3]."));
        Assert.Empty(RagAnswerer.Citations("No sources [a]."));
    }
}
