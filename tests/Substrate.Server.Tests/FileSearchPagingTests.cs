using System.Net;
using System.Numerics.Tensors;
using System.Text.Json;
using OpenAI.Files;
using OpenAI.VectorStores;
using Substrate.Retrieval.Embeddings;

namespace Substrate.Server.Tests;

/// <summary>
/// OpenAI's list pagination (limit, order, after, before; first_id, last_id, has_more) over vector stores, a store's
/// files and files, both orders, and the 0–1 search scores with <c>ranking_options.score_threshold</c>.
/// </summary>
public sealed partial class FileSearchTests
{
    [Fact]
    public async Task Vector_stores_page_two_at_a_time_both_orders_with_after_and_before()
    {
        var stores = Client(Alice).GetVectorStoreClient();
        var created = new List<VectorStore>();
        for (int i = 0; i < 5; i++) created.Add(await stores.CreateVectorStoreAsync(new VectorStoreCreationOptions { Name = $"s{i}" }));
        // Several land in the same second: created_at ties are ordered by id.
        var asc = created.OrderBy(s => s.CreatedAt.ToUnixTimeSeconds()).ThenBy(s => s.Id, StringComparer.Ordinal).Select(s => s.Id).ToList();
        var desc = Enumerable.Reverse(asc).ToList();

        Assert.Equal([asc[..2], asc[2..4], asc[4..]], await PagesAfter("/v1/vector_stores?limit=2&order=asc"));
        Assert.Equal([desc[..2], desc[2..4], desc[4..]], await PagesAfter("/v1/vector_stores?limit=2&order=desc"));
        Assert.Equal([desc[..2], desc[2..4], desc[4..]], await PagesAfter("/v1/vector_stores?limit=2"));   // desc is the default

        await AssertPage($"/v1/vector_stores?limit=2&order=asc&before={asc[4]}", asc[2..4], true);
        await AssertPage($"/v1/vector_stores?limit=2&order=asc&before={asc[2]}", asc[..2], false);
        await AssertPage($"/v1/vector_stores?limit=2&before={desc[3]}", desc[1..3], true);
        await AssertPage($"/v1/vector_stores?order=asc&after={asc[0]}&before={asc[4]}", asc[1..4], false);
        await AssertPage($"/v1/vector_stores?limit=1&order=asc&after={asc[0]}&before={asc[4]}", asc[1..2], true);
        await AssertPage("/v1/vector_stores", desc, false);

        // The SDK follows has_more and last_id by itself.
        Assert.Equal(asc, await stores.GetVectorStoresAsync(new VectorStoreCollectionOptions
            { PageSizeLimit = 2, Order = VectorStoreCollectionOrder.Ascending }).Select(s => s.Id).ToListAsync());
        Assert.Empty(await Client(Bob).GetVectorStoreClient().GetVectorStoresAsync().ToListAsync());
    }

    [Fact]
    public async Task A_stores_files_and_files_page_by_created_at_then_id()
    {
        var files = Client(Alice).GetOpenAIFileClient();
        var uploaded = new List<OpenAIFile>();
        for (int i = 0; i < 5; i++)
            uploaded.Add(await files.UploadFileAsync(BinaryData.FromString($"Note {i}: the shelf holds {i} jars."), $"n{i}.txt", FileUploadPurpose.Assistants));
        var asc = uploaded.OrderBy(f => f.CreatedAt.ToUnixTimeSeconds()).ThenBy(f => f.Id, StringComparer.Ordinal).Select(f => f.Id).ToList();
        var desc = Enumerable.Reverse(asc).ToList();
        var stores = Client(Alice).GetVectorStoreClient();
        VectorStore store = await stores.CreateVectorStoreAsync(new VectorStoreCreationOptions { FileIds = { asc[3], asc[0], asc[4], asc[1], asc[2] } });

        Assert.Equal([asc[..2], asc[2..4], asc[4..]], await PagesAfter($"/v1/vector_stores/{store.Id}/files?limit=2&order=asc"));
        Assert.Equal([desc[..2], desc[2..4], desc[4..]], await PagesAfter($"/v1/vector_stores/{store.Id}/files?limit=2"));
        await AssertPage($"/v1/vector_stores/{store.Id}/files?limit=2&before={desc[4]}", desc[2..4], true);
        await AssertPage($"/v1/vector_stores/{store.Id}/files?order=asc&filter=completed", asc, false);
        await AssertPage($"/v1/vector_stores/{store.Id}/files?filter=in_progress", new List<string>(), false);
        Assert.Equal(desc, await stores.GetVectorStoreFilesAsync(store.Id, new VectorStoreFileCollectionOptions
            { PageSizeLimit = 2, Order = VectorStoreFileCollectionOrder.Descending }).Select(f => f.FileId).ToListAsync());

        Assert.Equal([asc[..2], asc[2..4], asc[4..]], await PagesAfter("/v1/files?limit=2&order=asc"));
        await AssertPage("/v1/files?purpose=assistants", desc, false);
        await AssertPage("/v1/files?purpose=batch", new List<string>(), false);
        Assert.Equal(desc, (await files.GetFilesAsync()).Value.Select(f => f.Id));
    }

    [Fact]
    public async Task Bad_list_parameters_are_a_400_naming_the_parameter()
    {
        VectorStore mine = await Client(Alice).GetVectorStoreClient().CreateVectorStoreAsync(new VectorStoreCreationOptions());
        VectorStore bobs = await Client(Bob).GetVectorStoreClient().CreateVectorStoreAsync(new VectorStoreCreationOptions());
        OpenAIFile loose = await Client(Alice).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("x"), "x.txt", FileUploadPurpose.Assistants);
        foreach (var (path, param) in new[]
        {
            ("/v1/vector_stores?limit=0", "limit"), ("/v1/vector_stores?limit=101", "limit"), ("/v1/vector_stores?limit=two", "limit"),
            ("/v1/vector_stores?limit=-1", "limit"), ("/v1/vector_stores?limit=1&limit=2", "limit"), ("/v1/vector_stores?order=newest", "order"),
            ("/v1/vector_stores?after=vs_nope", "after"), ($"/v1/vector_stores?before={bobs.Id}", "before"),
            ($"/v1/vector_stores/{mine.Id}/files?after={loose.Id}", "after"), ($"/v1/vector_stores/{mine.Id}/files?filter=done", "filter"),
            ("/v1/files?limit=10001", "limit"), ($"/v1/files?before={loose.Id}", "before"), ($"/v1/files?after={mine.Id}", "after"),
        })
        {
            var (status, body) = await Get(Alice, path);
            Assert.True(status == HttpStatusCode.BadRequest, $"{path}: {status}");
            Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
            Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
        }
        Assert.Equal(HttpStatusCode.OK, (await Get(Alice, "/v1/vector_stores?limit=100&order=asc")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Get(Alice, "/v1/files?limit=10000")).Status);
    }

    /// <summary>A score is the cosine of the query's and the chunk's MiniLM embeddings (recomputed here), clamped to 0–1;
    /// score_threshold keeps the hits at or above it, in the same hybrid order.</summary>
    [Fact]
    public async Task Search_scores_are_cosine_similarities_and_score_threshold_drops_the_hits_below_it()
    {
        OpenAIFile file = await Client(Alice).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString(Handbook), "handbook.md", FileUploadPurpose.Assistants);
        VectorStore store = await Client(Alice).GetVectorStoreClient().CreateVectorStoreAsync(new VectorStoreCreationOptions { FileIds = { file.Id } });
        const string query = "how often are signing keys rotated";
        var all = (await Search(Alice, store.Id, new { query })).GetProperty("data").EnumerateArray()
            .Select(h => (Score: h.GetProperty("score").GetDouble(), Text: h.GetProperty("content")[0].GetProperty("text").GetString()!)).ToList();
        Assert.Equal(3, all.Count);
        Assert.Contains("ninety days", all[0].Text);
        using var miniLm = new MiniLmEmbeddingGenerator();
        var vectors = await miniLm.GenerateAsync([query, .. all.Select(h => h.Text)]);
        for (int i = 0; i < all.Count; i++)
        {
            var cosine = TensorPrimitives.Dot(vectors[0].Vector.Span, vectors[i + 1].Vector.Span);
            Assert.Equal(Math.Clamp(cosine, 0, 1), all[i].Score, 4);
        }
        Assert.True(all[0].Score > all.Skip(1).Max(h => h.Score), $"the key-rotation chunk is the closest: {string.Join(", ", all.Select(h => h.Score))}");

        var threshold = all.OrderByDescending(h => h.Score).ElementAt(1).Score;
        var kept = await Search(Alice, store.Id, new { query, ranking_options = new { ranker = "auto", score_threshold = threshold } });
        Assert.Equal(all.Where(h => h.Score >= threshold).Select(h => h.Text),
            kept.GetProperty("data").EnumerateArray().Select(h => h.GetProperty("content")[0].GetProperty("text").GetString()));
        var none = await Search(Alice, store.Id, new { query, ranking_options = new { score_threshold = 1.0 } });
        Assert.Equal(0, none.GetProperty("data").GetArrayLength());

        foreach (var (options, param) in new (object, string)[]
        {
            (new { score_threshold = 1.5 }, "ranking_options.score_threshold"), (new { score_threshold = "high" }, "ranking_options.score_threshold"),
            (new { ranker = "default-2024-11-15" }, "ranking_options.ranker"),
        })
        {
            var e = await Assert.ThrowsAsync<System.ClientModel.ClientResultException>(() => Search(Alice, store.Id, new { query, ranking_options = options }));
            Assert.Equal(400, e.Status);
            Assert.Equal(param, JsonDocument.Parse(e.GetRawResponse()!.Content).RootElement.GetProperty("error").GetProperty("param").GetString());
        }
    }

    /// <summary>Follows <c>after=last_id</c> while has_more, checking first_id and last_id on each page; the ids of each page.</summary>
    private async Task<List<List<string>>> PagesAfter(string path)
    {
        var pages = new List<List<string>>();
        string? after = null;
        while (true)
        {
            var (status, body) = await Get(Alice, after is null ? path : $"{path}&after={after}");
            Assert.Equal(HttpStatusCode.OK, status);
            var ids = Ids(body);
            Assert.Equal("list", body.GetProperty("object").GetString());
            Assert.Equal(ids[0], body.GetProperty("first_id").GetString());
            Assert.Equal(ids[^1], body.GetProperty("last_id").GetString());
            pages.Add(ids);
            if (!body.GetProperty("has_more").GetBoolean()) return pages;
            after = ids[^1];
        }
    }

    private async Task AssertPage(string path, List<string> ids, bool hasMore)
    {
        var (status, body) = await Get(Alice, path);
        Assert.True(status == HttpStatusCode.OK, $"{path}: {status} {body}");
        Assert.Equal(ids, Ids(body));
        Assert.Equal(hasMore, body.GetProperty("has_more").GetBoolean());
    }

    /// <summary>The ids of a page's objects (a store's files answer with their file ids).</summary>
    private static List<string> Ids(JsonElement page) => page.GetProperty("data").EnumerateArray().Select(o => o.GetProperty("id").GetString()!).ToList();

    private async Task<(HttpStatusCode Status, JsonElement Body)> Get(string key, string path)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var response = await http.GetAsync(path);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }
}
