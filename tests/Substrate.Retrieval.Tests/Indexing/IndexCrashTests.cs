using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Indexing;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Indexing;

public class IndexCrashTests
{
    static int Words(string text) => text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length;

    static DocumentIndexer Indexer(ChunkStore store) => new(store, new TextChunker(Words, maxTokens: 8, overlapTokens: 0), new WordHashEmbedder());

    static string Docs(TempFolder folder, int files)
    {
        for (int i = 0; i < files; i++)
            folder.Write($"docs/{i:D2}.txt", string.Join("\n\n", Enumerable.Range(0, 4).Select(p => $"File {i} paragraph {p} has a few words.")));
        return folder.File("docs");
    }

    [Fact]
    public async Task AFaultMidDocumentLeavesTheLastCommittedStateAndTheNextRunFinishes()
    {
        using var folder = new TempFolder();
        var docs = Docs(folder, 3);
        using (var store = ChunkStore.Open(folder.File("store.db")))
        {
            // Fail inside the second document's transaction, after two of its four chunk rows.
            int documents = 0;
            store.ChunkWritten = i => { if (i == 0) documents++; if (documents == 2 && i == 2) throw new IOException("disk fault"); };
            var report = await Indexer(store).IndexAsync([docs]);
            Assert.Equal(Path.Combine(docs, "01.txt"), Assert.Single(report.Failed).Path);
            Assert.Equal(8, store.ChunkCount());   // files 00 and 02; nothing of 01
            Assert.Empty(store.GetDocumentChunks(Path.Combine(docs, "01.txt")));

            // A fault the run does not survive (here: from its progress callback) stops it between documents.
            store.ChunkWritten = null;
            await Assert.ThrowsAsync<InvalidOperationException>(() => Indexer(store).IndexAsync([docs],
                p => { if (p.Status == "added") throw new InvalidOperationException("killed"); }));
        }
        using (var store = ChunkStore.Open(folder.File("store.db")))
        {
            var report = await Indexer(store).IndexAsync([docs]);
            Assert.Equal((0, 3, 0), (report.Added, report.Unchanged, report.Chunks));
            Assert.Equal(12, store.ChunkCount());
            Assert.Equal(12, store.SearchBm25("paragraph", 100).Count);   // the FTS index is in step with the chunks
        }
    }

    [Fact]
    public async Task ARunKilledWithSigkillLeavesACommittedStateThatTheNextRunFinishes()
    {
        using var folder = new TempFolder();
        var docs = Docs(folder, 40);
        var storePath = folder.File("store.db");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { typeof(IndexCrashTests).Assembly.Location, "index-child", storePath, docs }) start.ArgumentList.Add(arg);
        using (var child = Process.Start(start)!)
        {
            // Kill it without warning once a few documents are committed: somewhere inside a later one's transaction.
            int committed = 0;
            while (committed < 5 && child.StandardOutput.ReadLine() is { } line) committed = int.Parse(line);
            Assert.Equal(5, committed);
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }
        using (var check = new SqliteConnection($"Data Source={storePath}"))
        {
            check.Open();
            using var command = check.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", command.ExecuteScalar());
        }
        using var store = ChunkStore.Open(storePath);
        int documents = store.Documents().Count;
        Assert.InRange(documents, 5, 39);
        Assert.Equal(documents * 4, store.ChunkCount());   // whole documents only
        var report = await Indexer(store).IndexAsync([docs]);
        Assert.Equal((40 - documents, documents), (report.Added, report.Unchanged));
        Assert.Equal(160, store.ChunkCount());
        Assert.Equal(160, store.SearchBm25("paragraph", 1000).Count);
    }

    /// <summary>The child: indexes slowly (each chunk row waits), printing the number of committed documents.</summary>
    public static int RunChild(string storePath, string docs)
    {
        using var store = ChunkStore.Open(storePath);
        store.ChunkWritten = _ => Thread.Sleep(5);
        Indexer(store).IndexAsync([docs], p => Console.WriteLine(p.Done)).GetAwaiter().GetResult();
        return 0;
    }
}
