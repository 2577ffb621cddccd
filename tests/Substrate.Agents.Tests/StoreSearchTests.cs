using Microsoft.Extensions.AI;
using Substrate.Agents.Tools;
using Substrate.Retrieval.Store;
using static Substrate.Agents.Tests.ScriptedChatClient;

namespace Substrate.Agents.Tests;

/// <summary>A tiny chunk store in a temp folder, built with the Retrieval API: three documents, vectors of
/// <see cref="LetterEmbedder"/>.</summary>
public sealed class TinyStore : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("substrate-agents-store-").FullName;

    public string Path => System.IO.Path.Combine(folder, "docs.db");

    public TinyStore()
    {
        (string Path, string Position, string Text)[] chunks =
        [
            ("/docs/keys.md", "Setup > Keys", "Rotate the signing keys every ninety days with the vault command."),
            ("/docs/bread.txt", "line 1", "Bread is baked at dawn in a stone oven."),
            ("/docs/whales.pdf", "page 3", "Whales sing long songs in the cold sea."),
        ];
        using var store = ChunkStore.Open(Path);
        store.UseEmbedding("letters", LetterEmbedder.Dimensions);
        foreach (var (path, position, text) in chunks)
            store.ReplaceDocument(path, "h", [(position, text)], [LetterEmbedder.Embed(text)]);
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}

/// <summary>A deterministic test embedder: letter counts a–z, L2-normalised.</summary>
public sealed class LetterEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    public const int Dimensions = 26;

    public static float[] Embed(string text)
    {
        var v = new float[Dimensions];
        foreach (var c in text.ToLowerInvariant()) if (c is >= 'a' and <= 'z') v[c - 'a']++;
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return [.. v.Select(x => norm == 0 ? 0 : x / norm)];
    }

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default) =>
        Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(Embed(v)))));

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose() { }
}

public sealed class StoreSearchTests : IDisposable
{
    readonly TinyStore store = new();

    public void Dispose() => store.Dispose();

    [Fact]
    public async Task The_agent_calls_search_and_reads_the_ranked_chunks_with_their_sources()
    {
        await using var toolbox = await Toolbox.OpenAsync([$"calc,search:{store.Path}"], storeEmbedder: _ => new LetterEmbedder());
        Assert.Equal(["calculator", "search"], toolbox.Tools.Select(t => t.Name));
        var model = new ScriptedChatClient(CallTool("search", ("query", "how do I rotate the signing keys"), ("top", 2)), new Text("Use the vault."));
        var result = await new AgentLoop(model, toolbox.Tools, new AgentOptions()).RunAsync("goal", _ => { });
        Assert.Equal("Use the vault.", result.Answer);
        var lines = Assert.Single(model.ToolResults).Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal("[1] /docs/keys.md (Setup > Keys): Rotate the signing keys every ninety days with the vault command.", lines[0]);
        Assert.StartsWith("[2] /docs/", lines[1]);
    }

    [Fact]
    public async Task Without_an_embedder_the_store_is_searched_by_words_and_top_is_capped()
    {
        using var search = StoreSearch.Open(store.Path);
        Assert.Equal("[1] /docs/whales.pdf (page 3): Whales sing long songs in the cold sea.", await search.SearchAsync("whales"));
        Assert.Equal("no chunks match", await search.SearchAsync("zebra"));
        Assert.Equal(3, (await search.SearchAsync("the in with at", top: 1000)).Split('\n').Length);
        await Assert.ThrowsAsync<ArgumentException>(() => search.SearchAsync(" "));
    }

    [Fact]
    public async Task The_store_is_opened_read_only()
    {
        var before = File.ReadAllBytes(store.Path);
        using (var search = StoreSearch.Open(store.Path, _ => new LetterEmbedder()))
            await search.SearchAsync("bread");
        Assert.Equal(before, File.ReadAllBytes(store.Path));
        Assert.False(File.Exists(store.Path + "-wal") && new FileInfo(store.Path + "-wal").Length > 0);
    }

    [Fact]
    public async Task A_missing_or_corrupt_store_is_one_error_at_startup()
    {
        var missing = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"no-such-store-{Guid.NewGuid():N}.db");
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => Toolbox.OpenAsync([$"search:{missing}"]));
        Assert.Equal($"store not found: {missing}", e.Message);

        var junk = store.Path + ".junk";
        File.WriteAllText(junk, "not a database, only words");
        var bad = await Assert.ThrowsAsync<InvalidDataException>(() => Toolbox.OpenAsync([$"search:{junk}"]));
        Assert.StartsWith($"{junk} is not a chunk store: ", bad.Message);
        Assert.Contains("unknown tool 'search'", (await Assert.ThrowsAsync<ArgumentException>(() => Toolbox.OpenAsync(["search"]))).Message);
    }
}
