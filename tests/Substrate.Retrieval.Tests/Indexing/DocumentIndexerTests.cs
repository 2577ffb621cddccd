using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Indexing;
using Substrate.Retrieval.Store;
using Substrate.Retrieval.Tests.Documents;

namespace Substrate.Retrieval.Tests.Indexing;

public class DocumentIndexerTests
{
    static int Words(string text) => text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length;

    static DocumentIndexer Indexer(ChunkStore store, WordHashEmbedder? embedder = null) =>
        new(store, new TextChunker(Words, maxTokens: 16, overlapTokens: 4), embedder ?? new WordHashEmbedder());

    [Fact]
    public async Task ReindexingTouchesOnlyNewChangedAndDeletedFiles()
    {
        using var folder = new TempFolder();
        SampleDocuments.WriteAll(folder);
        using var store = ChunkStore.Open(folder.File("store.db"));
        var docs = Path.Combine(folder.Path, "docs");
        Directory.CreateDirectory(docs);
        foreach (var file in Directory.GetFiles(folder.Path).Where(f => !f.EndsWith(".db"))) File.Move(file, Path.Combine(docs, Path.GetFileName(file)));

        var first = await Indexer(store).IndexAsync([docs]);
        Assert.Equal((6, 0, 0, 0, 12), (first.Added, first.Changed, first.Unchanged, first.Removed, first.Chunks));
        Assert.Equal(("word-hash", WordHashEmbedder.Dimensions), store.Embedding);

        File.WriteAllText(Path.Combine(docs, "notes.txt"), "The keeper sleeps.");
        File.Delete(Path.Combine(docs, "page.html"));
        File.WriteAllText(Path.Combine(docs, "new.md"), "# New\n\nA new file.");
        var embedder = new WordHashEmbedder();
        var second = await Indexer(store, embedder).IndexAsync([docs]);
        Assert.Equal((1, 1, 4, 1, 2), (second.Added, second.Changed, second.Unchanged, second.Removed, second.Chunks));
        Assert.Equal(2, embedder.Calls);   // only the two files written
        Assert.Equal(["The keeper sleeps."], store.GetDocumentChunks(Path.Combine(docs, "notes.txt")).Select(c => c.Text));
        Assert.Empty(store.GetDocumentChunks(Path.Combine(docs, "page.html")));
        Assert.Equal(6, store.Documents().Count);
        Assert.Equal(11, store.ChunkCount());
    }

    [Fact]
    public async Task ALargeFileReportsItsEmbeddingAsItGoes()
    {
        using var folder = new TempFolder();
        folder.Write("docs/big.txt", string.Join("\n\n", Enumerable.Range(0, 300).Select(i => $"Paragraph {i} is long enough to fill a chunk alone here.")));
        using var store = ChunkStore.Open(folder.File("store.db"));
        var progress = new List<IndexProgress>();
        var report = await Indexer(store).IndexAsync([folder.File("docs")], progress.Add);
        Assert.Equal(300, report.Chunks);
        Assert.Equal(["embedding 0/300 chunks", "embedding 128/300 chunks", "embedding 256/300 chunks", "added"], progress.Select(p => p.Status));
        Assert.Equal([0, 128 / 300.0, 256 / 300.0, 1], progress.Select(p => p.Fraction));
        Assert.Equal(300, store.Vectors().Count);

        // A callback that throws while a file is being embedded ends the run; it is not reported as the file's failure.
        File.WriteAllText(folder.File("docs/big.txt"), "changed " + File.ReadAllText(folder.File("docs/big.txt")));
        await Assert.ThrowsAsync<OperationCanceledException>(() => Indexer(store).IndexAsync([folder.File("docs")],
            p => { if (p.Status.StartsWith("embedding 128")) throw new OperationCanceledException("stop"); }));
        await Assert.ThrowsAsync<TimeoutException>(() => Indexer(store).IndexAsync([folder.File("docs")],
            p => { if (p.Status.StartsWith("embedding 128")) throw new TimeoutException("stop"); }));
        Assert.Equal(["Paragraph 0 is long enough to fill a chunk alone here."], store.GetDocumentChunks(folder.File("docs/big.txt")).Take(1).Select(c => c.Text));
    }

    [Fact]
    public async Task StoredChunksKeepPathPositionAndHash()
    {
        using var folder = new TempFolder();
        var md = folder.Write("docs/guide.md", "# Setup\n\nInstall the ferry timetable.");
        using var store = ChunkStore.Open(folder.File("store.db"));
        await Indexer(store).IndexAsync([folder.File("docs")]);
        var chunk = Assert.Single(store.GetDocumentChunks(md));
        Assert.Equal((md, 0, "Setup", "Install the ferry timetable."), (chunk.Path, chunk.Ordinal, chunk.Position, chunk.Text));
        Assert.Equal(ChunkStore.Sha256("Install the ferry timetable."), chunk.Hash);
    }

    [Fact]
    public async Task AnUnreadableFileIsListedAndSkippedAndTheRunGoesOn()
    {
        using var folder = new TempFolder();
        folder.Write("docs/a.txt", "Alpha text.");
        var broken = folder.Write("docs/b.pdf", "not a pdf");
        folder.Write("docs/c.txt", "Gamma text.");
        using var store = ChunkStore.Open(folder.File("store.db"));
        var progress = new List<IndexProgress>();
        var report = await Indexer(store).IndexAsync([folder.File("docs")], progress.Add);
        var (path, error) = Assert.Single(report.Failed);
        Assert.Equal(broken, path);
        Assert.StartsWith(broken + ": cannot read:", error);
        Assert.Equal(2, report.Added);
        Assert.Equal(["added", "error: " + error, "added"], progress.Select(p => p.Status));
        Assert.Equal([1, 2, 3], progress.Select(p => p.Done));
    }

    [Fact]
    public async Task IndexingWithAnotherEmbedderThanTheStoresIsRefused()
    {
        using var folder = new TempFolder();
        folder.Write("docs/a.txt", "Alpha text.");
        using var store = ChunkStore.Open(folder.File("store.db"));
        store.UseEmbedding("all-MiniLM-L6-v2", 384);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Indexer(store).IndexAsync([folder.File("docs")]));
        Assert.Equal($"{folder.File("store.db")} holds vectors of all-MiniLM-L6-v2, not word-hash; index into a new store", e.Message);
        Assert.Empty(store.Documents());
    }
}
