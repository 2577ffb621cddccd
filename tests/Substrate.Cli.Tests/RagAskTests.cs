using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Substrate.Agents.Tests;
using Substrate.Retrieval.Store;

namespace Substrate.Cli.Tests;

/// <summary>
/// <c>rag ask</c> through the tiny random Substrate model of <see cref="TinyModelFolder"/> (its context 2,048, so three sources fit), and
/// <c>rag index --embedder &lt;model folder&gt;</c>: the store records the model and vectors of its hidden size; and
/// <c>serve</c>'s file-search flags (--api-keys-file, --data-dir) on the same tiny model.
/// </summary>
public sealed class RagAskTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-rag-ask-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    static SubstrateProcess.Result Ok(SubstrateProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.Stderr}");
        return result;
    }

    string Docs()
    {
        var docs = Path.Combine(work, "docs");
        Directory.CreateDirectory(docs);
        File.WriteAllText(Path.Combine(docs, "tides.md"), "# Tides\n\nThe tide rises twice a day.\n\n## Moon\n\nThe moon pulls the sea.");
        File.WriteAllText(Path.Combine(docs, "bread.txt"), "Bread is baked before dawn in the village oven.");
        return docs;
    }

    [Fact]
    public void AskAnswersFromATinyModelAndListsTheSources()
    {
        string model = TinyModelFolder.Path, docs = Docs(), store = Path.Combine(work, "docs.db");
        Ok(SubstrateProcess.Run("rag", "index", "--docs", docs, "--store", store));
        var ask = Ok(SubstrateProcess.Run("rag", "ask", "--store", store, "--model", model, "When is bread baked?", "--max-tokens", "6",
            "--top", "2", "--mode", "bm25"));
        var lines = ask.Stdout.Split('\n');
        // A random model cites nothing, so every retrieved source is listed; BM25 puts the bread chunk first.
        int at = Array.IndexOf(lines, "Sources (none cited; all retrieved):");
        Assert.True(at > 0, ask.Stdout);
        Assert.StartsWith($"[1] {Path.Combine(docs, "bread.txt")}: Bread is baked before dawn", lines[at + 1]);
    }

    [Fact]
    public void IndexAndSearchWithAModelFolderAsTheEmbedder()
    {
        string model = TinyModelFolder.Path, docs = Docs(), store = Path.Combine(work, "model.db");
        var index = JsonDocument.Parse(Ok(SubstrateProcess.Run("rag", "index", "--docs", docs, "--store", store, "--embedder", model)).Stdout).RootElement;
        Assert.Equal(3, index.GetProperty("chunks").GetInt32());
        using (var chunks = ChunkStore.Open(store, create: false))
            Assert.Equal((Path.GetFullPath(model), TinyModelFolder.HiddenSize), chunks.Embedding);
        // The store names its embedder: search (vector mode) loads the model again without --embedder.
        var hits = Ok(SubstrateProcess.Run("rag", "search", "--store", store, "moon", "--mode", "vector", "--top", "3")).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(3, hits.Count);
        Assert.Equal([1, 2, 3], hits.Select(h => h.GetProperty("rank").GetInt32()));
        Assert.All(hits, h => Assert.InRange(h.GetProperty("score").GetDouble(), -1.0001, 1.0001));
    }

    /// <summary>serve with --api-keys-file and --data-dir: each key of the file is accepted and owns its own uploads.</summary>
    [Fact]
    public async Task ServeTakesAKeysFileAndKeepsUploadsInTheDataDir()
    {
        string model = TinyModelFolder.Path, keys = Path.Combine(work, "keys.txt"), data = Path.Combine(work, "data");
        File.WriteAllText(keys, "# two clients\nkey-one\n\nkey-two\n");
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var serve = SubstrateProcess.Start(
            ["--model", model, "--urls", $"http://127.0.0.1:{port}", "--api-keys-file", keys, "--data-dir", data], "serve");
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            for (var wait = DateTime.UtcNow; ; await Task.Delay(250))
            {
                try { if ((await http.GetAsync("/health")).IsSuccessStatusCode) break; }
                catch (HttpRequestException) when (DateTime.UtcNow - wait < TimeSpan.FromMinutes(2)) { }
            }
            async Task<HttpResponseMessage> Send(HttpMethod method, string path, string key, HttpContent? content = null)
            {
                using var request = new HttpRequestMessage(method, path) { Content = content };
                request.Headers.Authorization = new("Bearer", key);
                return await http.SendAsync(request);
            }
            var form = new MultipartFormDataContent
                { { new StringContent("assistants"), "purpose" }, { new StringContent("The tide rises."), "file", "tides.txt" } };
            var uploaded = await (await Send(HttpMethod.Post, "/v1/files", "key-one", form)).Content.ReadFromJsonAsync<JsonElement>();
            var id = uploaded.GetProperty("id").GetString()!;
            Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, $"/v1/files/{id}", "key-one")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, $"/v1/files/{id}", "key-two")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Get, "/v1/files", "# two clients")).StatusCode);
            Assert.True(File.Exists(Path.Combine(data, "files", id, "content.txt")));
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync();
        }
    }
}
