using Microsoft.AspNetCore.Http;
using Substrate.Server.Storage;
using Substrate.Server.Wire;
using static Substrate.Server.Endpoints.FilesEndpoint;

namespace Substrate.Server.Endpoints;

/// <summary><c>/v1/vector_stores</c>: the caller's vector stores, the files attached to each (chunked and embedded on
/// attach, synchronously, so a file is <c>completed</c> when the call returns) and search over them.</summary>
internal static class VectorStoresEndpoint
{
    /// <summary>Most results one search returns (OpenAI's bound for max_num_results).</summary>
    private const int MaxResults = 50;

    public static async Task<IResult> Create(HttpContext context, FileSearchStorage storage)
    {
        using var doc = await RequestBody.Read(context);
        var r = RequestReader.Of(doc);
        var owner = ApiKeyAuthentication.Owner(context);
        var fileIds = r.Strings("file_ids", 500) ?? [];
        foreach (var id in fileIds) storage.File(owner, id);
        var store = await storage.CreateVectorStoreAsync(owner, r.String("name"));
        try
        {
            foreach (var id in fileIds) await storage.AttachAsync(owner, store.Id, id, context.RequestAborted);
        }
        catch
        {
            // The call answers an error, so it leaves no half-filled store behind.
            await storage.DeleteVectorStoreAsync(owner, store.Id, CancellationToken.None);
            throw;
        }
        return Json(Wire(owner, store, storage));
    }

    public static IResult List(HttpContext context, FileSearchStorage storage)
    {
        var owner = ApiKeyAuthentication.Owner(context);
        var (page, more) = ListQuery.Read(context.Request.Query, ListQuery.VectorStores).Apply(storage.VectorStores(owner), s => s.Id, s => s.CreatedAt);
        return Json(new WirePage<WireVectorStore>(page.Select(s => Wire(owner, s, storage)).ToList(), more));   // counts read for this page only
    }

    public static IResult Get(string id, HttpContext context, FileSearchStorage storage)
    {
        var owner = ApiKeyAuthentication.Owner(context);
        return Json(Wire(owner, storage.VectorStore(owner, id), storage));
    }

    public static async Task<IResult> Delete(string id, HttpContext context, FileSearchStorage storage)
    {
        await storage.DeleteVectorStoreAsync(ApiKeyAuthentication.Owner(context), id, context.RequestAborted);
        return Json(new WireDeleted(id, "vector_store.deleted"));
    }

    public static async Task<IResult> AttachFile(string id, HttpContext context, FileSearchStorage storage)
    {
        using var doc = await RequestBody.Read(context);
        var fileId = RequestReader.Of(doc).RequiredString("file_id");
        var owner = ApiKeyAuthentication.Owner(context);
        await storage.AttachAsync(owner, id, fileId, context.RequestAborted);
        return Json(WireFile(id, storage.File(owner, fileId)));
    }

    /// <summary>One page of the store's files; <c>filter</c> is a status, and every file here is <c>completed</c>.</summary>
    public static IResult ListFiles(string id, HttpContext context, FileSearchStorage storage)
    {
        var query = ListQuery.Read(context.Request.Query, ListQuery.VectorStores);
        var status = context.Request.Query["filter"].ToString();
        if (status is not ("" or "completed" or "in_progress" or "failed" or "cancelled"))
            throw ApiException.Invalid($"'filter' must be in_progress, completed, failed or cancelled (got '{status}')", "filter", "invalid_value");
        var files = storage.StoreFiles(ApiKeyAuthentication.Owner(context), id).Select(f => f.File);
        var (page, more) = query.Apply(status is "" or "completed" ? files : [], f => f.Id, f => f.CreatedAt);
        return Json(new WirePage<WireVectorStoreFile>(page.Select(f => WireFile(id, f)).ToList(), more));
    }

    public static async Task<IResult> DetachFile(string id, string fileId, HttpContext context, FileSearchStorage storage)
    {
        await storage.DetachAsync(ApiKeyAuthentication.Owner(context), id, fileId, context.RequestAborted);
        return Json(new WireDeleted(fileId, "vector_store.file.deleted"));
    }

    public static async Task<IResult> Search(string id, HttpContext context, FileSearchStorage storage)
    {
        using var doc = await RequestBody.Read(context);
        var r = RequestReader.Of(doc);
        var query = r.RequiredString("query");
        if (query.Trim().Length == 0) throw ApiException.Invalid("'query' must not be empty", "query");
        var top = (int)(r.Integer("max_num_results", 1, MaxResults) ?? 10);
        if (r.Bool("rewrite_query") == true) throw ApiException.Invalid("rewrite_query is not supported", "rewrite_query", "unsupported_value");
        var threshold = r.Object("ranking_options") is { } ranking ? ScoreThreshold(ranking) : 0;
        var filter = r.Object("filters") is { } filters ? FileFilter.Parse(filters) : null;
        var hits = await storage.SearchAsync(ApiKeyAuthentication.Owner(context), id, query, top,
            filter is null ? null : f => filter(f.Id, f.Filename), threshold, context.RequestAborted);
        return Json(new WireSearchPage([query],
            hits.Select(h => new WireSearchResult(h.Hit.Chunk.Path, h.Filename, h.Score, [new WireSearchContent(h.Hit.Chunk.Text)])).ToList()));
    }

    /// <summary><c>ranking_options</c>: <c>score_threshold</c> (0–1) drops hits scoring below it; <c>ranker</c> may be
    /// <c>auto</c> or <c>none</c> (there is no re-ranker here; the ranking is MiniLM and BM25 fused by reciprocal rank).</summary>
    private static double ScoreThreshold(RequestReader ranking)
    {
        if (ranking.String("ranker") is { } ranker && ranker is not ("auto" or "none"))
            throw ApiException.Invalid($"ranker must be auto or none (got '{ranker}'; results are hybrid MiniLM and BM25, not re-ranked)",
                ranking.Param("ranker"), "unsupported_value");
        return ranking.Number("score_threshold", 0, 1) ?? 0;
    }

    private static WireVectorStore Wire(string owner, StoredVectorStore store, FileSearchStorage storage)
    {
        var files = storage.StoreFiles(owner, store.Id);
        return new WireVectorStore(store.Id, store.CreatedAt, store.Name, files.Sum(f => f.File.Bytes),
            new WireFileCounts(0, files.Count, 0, 0, files.Count));
    }

    /// <summary>created_at is the file's (the store does not record when it was attached).</summary>
    private static WireVectorStoreFile WireFile(string storeId, StoredFile file) => new(file.Id, file.CreatedAt, storeId, file.Bytes);
}
