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
public sealed class FileSearchTests : IAsyncLifetime
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

    private static async Task AssertNotFound(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(call);
        Assert.Equal((int)HttpStatusCode.NotFound, e.Status);
    }
}
