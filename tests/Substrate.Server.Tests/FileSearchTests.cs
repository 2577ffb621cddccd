using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text.Json;
using OpenAI;
using OpenAI.Files;
using OpenAI.VectorStores;
using Substrate.Inference.Serving;

namespace Substrate.Server.Tests;

/// <summary>
/// File search through the official OpenAI SDK: upload a file, create a vector store, attach, search, list, delete; a
/// second key sees none of it (404); files and stores survive a restart of the server on the same data folder.
/// </summary>
public sealed partial class FileSearchTests : IAsyncLifetime
{
    private const string Alice = "alice-key", Bob = "bob-key";
    private readonly string dataDir = Path.Combine(Path.GetTempPath(), $"substrate-file-search-{Guid.NewGuid():N}");
    private InferenceEngine engine = null!;
    private SubstrateServer server = null!;

    private const string Handbook = """
        # Keys

        Rotate the signing keys every ninety days with the vault command; the old key stays valid for one week.

        # Holidays

        Staff take twenty-five days of paid leave a year, booked through the calendar at least two weeks ahead.

        # Coffee

        The espresso machine on the third floor is descaled every Friday; use only filtered water in it.
        """;

    public async Task InitializeAsync()
    {
        engine = TinyServer.CreateEngine(new BatchSchedulerOptions { MaxBatch = 2, QueueCapacity = 4 });
        await StartAsync();
    }

    private async Task StartAsync()
    {
        server = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"], ApiKeys = [Alice, Bob], DataDir = dataDir });
        await server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        engine.Dispose();
        Directory.Delete(dataDir, recursive: true);
    }

    private OpenAIClient Client(string key) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(new Uri(server.Urls[0]), "/v1") });

    /// <summary>The SDK has no typed search in 2.15.0; its protocol method posts the body and returns the page.</summary>
    private async Task<JsonElement> Search(string key, string storeId, object body)
    {
        var result = await Client(key).GetVectorStoreClient().SearchVectorStoreAsync(storeId, BinaryContent.Create(BinaryData.FromObjectAsJson(body)));
        return JsonDocument.Parse(result.GetRawResponse().Content).RootElement;
    }

    [Fact]
    public async Task Upload_attach_search_list_delete_and_a_second_key_gets_404()
    {
        var files = Client(Alice).GetOpenAIFileClient();
        var stores = Client(Alice).GetVectorStoreClient();
        OpenAIFile file = await files.UploadFileAsync(BinaryData.FromString(Handbook), "handbook.md", FileUploadPurpose.Assistants);
        Assert.StartsWith("file-", file.Id);
        Assert.Equal("handbook.md", file.Filename);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(Handbook), file.SizeInBytes);
        VectorStore store = await stores.CreateVectorStoreAsync(new VectorStoreCreationOptions { Name = "handbook" });
        Assert.Equal("handbook", store.Name);
        VectorStoreFile attached = await stores.AddFileToVectorStoreAsync(store.Id, file.Id);
        Assert.Equal(VectorStoreFileStatus.Completed, attached.Status);
        Assert.Equal(file.Id, attached.FileId);

        var page = await Search(Alice, store.Id, new { query = "how often are signing keys rotated", max_num_results = 2 });
        Assert.Equal("vector_store.search_results.page", page.GetProperty("object").GetString());
        var best = page.GetProperty("data")[0];
        Assert.Equal(file.Id, best.GetProperty("file_id").GetString());
        Assert.Equal("handbook.md", best.GetProperty("filename").GetString());
        Assert.True(best.GetProperty("score").GetDouble() > 0);
        Assert.Equal("text", best.GetProperty("content")[0].GetProperty("type").GetString());
        Assert.Contains("ninety days", best.GetProperty("content")[0].GetProperty("text").GetString());
        var filtered = await Search(Alice, store.Id,
            new { query = "keys", filters = new { type = "eq", key = "filename", value = "other.md" } });
        Assert.Equal(0, filtered.GetProperty("data").GetArrayLength());

        Assert.Equal([file.Id], (await files.GetFilesAsync()).Value.Select(f => f.Id));
        Assert.Equal([store.Id], await stores.GetVectorStoresAsync().Select(s => s.Id).ToListAsync());
        Assert.Equal([file.Id], await stores.GetVectorStoreFilesAsync(store.Id).Select(f => f.FileId).ToListAsync());
        Assert.Equal(1, (await stores.GetVectorStoreAsync(store.Id)).Value.FileCounts.Completed);

        // Bob holds a valid key but none of Alice's things.
        var bobFiles = Client(Bob).GetOpenAIFileClient();
        var bobStores = Client(Bob).GetVectorStoreClient();
        Assert.Empty((await bobFiles.GetFilesAsync()).Value);
        Assert.Empty(await bobStores.GetVectorStoresAsync().ToListAsync());
        await AssertNotFound(() => bobFiles.GetFileAsync(file.Id));
        await AssertNotFound(() => bobFiles.DeleteFileAsync(file.Id));
        await AssertNotFound(() => bobStores.GetVectorStoreAsync(store.Id));
        await AssertNotFound(() => bobStores.AddFileToVectorStoreAsync(store.Id, file.Id));
        await AssertNotFound(() => Search(Bob, store.Id, new { query = "keys" }));
        await AssertNotFound(() => bobStores.DeleteVectorStoreAsync(store.Id));

        Assert.True((await stores.RemoveFileFromVectorStoreAsync(store.Id, file.Id)).Value.Removed);
        Assert.Equal(0, (await Search(Alice, store.Id, new { query = "keys" })).GetProperty("data").GetArrayLength());
        Assert.True((await stores.DeleteVectorStoreAsync(store.Id)).Value.Deleted);
        Assert.True((await files.DeleteFileAsync(file.Id)).Value.Deleted);
        await AssertNotFound(() => files.GetFileAsync(file.Id));
        await AssertNotFound(() => stores.GetVectorStoreAsync(store.Id));
    }

    [Fact]
    public async Task Files_and_vector_stores_survive_a_restart()
    {
        OpenAIFile file = await Client(Alice).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString(Handbook), "handbook.md", FileUploadPurpose.Assistants);
        VectorStore store = await Client(Alice).GetVectorStoreClient().CreateVectorStoreAsync(new VectorStoreCreationOptions { FileIds = { file.Id } });

        await server.DisposeAsync();
        await StartAsync();

        Assert.Equal("handbook.md", (await Client(Alice).GetOpenAIFileClient().GetFileAsync(file.Id)).Value.Filename);
        Assert.Equal(1, (await Client(Alice).GetVectorStoreClient().GetVectorStoreAsync(store.Id)).Value.FileCounts.Completed);
        var page = await Search(Alice, store.Id, new { query = "espresso machine descaling", max_num_results = 1 });
        Assert.Contains("Friday", page.GetProperty("data")[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.DoesNotContain(Directory.EnumerateFiles(dataDir, "*", SearchOption.AllDirectories), f => f.Contains(Alice));
        Assert.DoesNotContain(Directory.EnumerateFiles(dataDir, "record.json", SearchOption.AllDirectories), f => File.ReadAllText(f).Contains(Alice));
    }

    [Fact]
    public async Task An_unsupported_file_type_and_a_wrong_purpose_are_refused()
    {
        var files = Client(Alice).GetOpenAIFileClient();
        var e = await Assert.ThrowsAsync<ClientResultException>(() => files.UploadFileAsync(BinaryData.FromString("x"), "image.png", FileUploadPurpose.Assistants));
        Assert.Equal(400, e.Status);
        e = await Assert.ThrowsAsync<ClientResultException>(() => files.UploadFileAsync(BinaryData.FromString("x"), "a.txt", FileUploadPurpose.FineTune));
        Assert.Equal(400, e.Status);
    }

    [Fact]
    public async Task A_multipart_body_without_a_boundary_is_a_400_not_a_500()
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/files") { Content = new StringContent("purpose=assistants") };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("multipart/form-data");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Alice);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_multipart", error.GetProperty("code").GetString());
        Assert.Empty((await Client(Alice).GetOpenAIFileClient().GetFilesAsync()).Value);
    }

    [Fact]
    public async Task Creating_a_store_with_an_unreadable_file_is_a_400_and_leaves_no_store()
    {
        OpenAIFile bad = await Client(Alice).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("not a pdf"), "broken.pdf",
            FileUploadPurpose.Assistants);
        var stores = Client(Alice).GetVectorStoreClient();
        var e = await Assert.ThrowsAsync<ClientResultException>(() => stores.CreateVectorStoreAsync(new VectorStoreCreationOptions { FileIds = { bad.Id } }));
        Assert.Equal(400, e.Status);
        Assert.Empty(await stores.GetVectorStoresAsync().ToListAsync());
    }

    [Fact]
    public async Task A_filter_with_an_unsupported_type_is_refused_for_its_type_whatever_its_value()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() =>
            Search(Alice, "vs_none", new { query = "keys", filters = new { type = "gt", key = "filename", value = 3 } }));
        Assert.Equal(400, e.Status);
        var error = JsonDocument.Parse(e.GetRawResponse()!.Content).RootElement.GetProperty("error");
        Assert.Equal("filters.type", error.GetProperty("param").GetString());
        Assert.Equal("unsupported_value", error.GetProperty("code").GetString());
    }

    /// <summary>Two deletes that both pass the ownership check while an attach holds the store's write gate (its
    /// embedder blocked): when the gate opens the first deletes, the second must find nothing (404, not a second 200).</summary>
    [Fact]
    public async Task Concurrent_deletes_of_one_file_or_store_succeed_once_and_the_other_gets_404()
    {
        var embedder = new BlockingEmbedder();
        var dir = Path.Combine(dataDir, "blocked");   // removed with dataDir
        await using var blocked = SubstrateServer.Create(engine,
            new ServerOptions { Urls = ["http://127.0.0.1:0"], ApiKeys = [Alice], DataDir = dir }, fileSearchEmbedder: embedder);
        await blocked.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(blocked.Urls[0]) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Alice);
        var client = new OpenAIClient(new ApiKeyCredential(Alice), new OpenAIClientOptions { Endpoint = new Uri(new Uri(blocked.Urls[0]), "/v1") });
        OpenAIFile file = await client.GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString(Handbook), "handbook.md", FileUploadPurpose.Assistants);
        OpenAIFile other = await client.GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString(Handbook), "other.md", FileUploadPurpose.Assistants);
        VectorStore store = await client.GetVectorStoreClient().CreateVectorStoreAsync(new VectorStoreCreationOptions());
        foreach (var path in new[] { $"/v1/files/{file.Id}", $"/v1/vector_stores/{store.Id}" })
        {
            embedder.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var attach = http.PostAsync($"/v1/vector_stores/{store.Id}/files",
                new StringContent($$"""{"file_id":"{{other.Id}}"}""", System.Text.Encoding.UTF8, "application/json"));
            await embedder.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
            var deletes = new[] { http.DeleteAsync(path), http.DeleteAsync(path) };
            await Task.Delay(500);   // both past the ownership check, waiting on the store's gate
            embedder.Gate.SetResult();
            (await attach).Dispose();
            var statuses = (await Task.WhenAll(deletes)).Select(r => r.StatusCode).Order().ToList();
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.NotFound], statuses);
            embedder.Entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    private sealed class BlockingEmbedder : Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>
    {
        public TaskCompletionSource Entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<Microsoft.Extensions.AI.GeneratedEmbeddings<Microsoft.Extensions.AI.Embedding<float>>> GenerateAsync(IEnumerable<string> values,
            Microsoft.Extensions.AI.EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            Entered.TrySetResult();
            await Gate.Task;
            return new(values.Select(_ => new Microsoft.Extensions.AI.Embedding<float>(new float[] { 1, 0, 0, 0 })));
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    private static async Task AssertNotFound(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(call);
        Assert.Equal((int)HttpStatusCode.NotFound, e.Status);
    }
}
