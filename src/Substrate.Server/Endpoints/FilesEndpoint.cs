using Microsoft.AspNetCore.Http;
using Substrate.Server.Storage;
using Substrate.Server.Wire;

namespace Substrate.Server.Endpoints;

/// <summary><c>/v1/files</c>: upload (multipart, purpose <c>assistants</c>), list, get and delete the caller's files.</summary>
internal static class FilesEndpoint
{
    public static async Task<IResult> Upload(HttpContext context, FileSearchStorage storage)
    {
        if (!context.Request.HasFormContentType)
            throw new ApiException(415, "the body must be multipart/form-data with 'file' and 'purpose'", code: "unsupported_media_type");
        IFormCollection form;
        // A multipart body without a boundary, cut short or past the form's limits is the client's error, not a 500.
        try { form = await context.Request.ReadFormAsync(context.RequestAborted); }
        catch (InvalidDataException e) { throw ApiException.Invalid($"the multipart body cannot be read: {e.Message}", "file", "invalid_multipart"); }
        var purpose = form["purpose"].ToString();
        if (purpose != "assistants")
            throw ApiException.Invalid($"purpose must be 'assistants' (the purpose of files for file search; got '{purpose}')", "purpose");
        var upload = form.Files.GetFile("file") ?? throw ApiException.Invalid("'file' is required", "file", "missing_required_parameter");
        await using var content = upload.OpenReadStream();
        var file = await storage.AddFileAsync(ApiKeyAuthentication.Owner(context), Path.GetFileName(upload.FileName), purpose, content,
            context.RequestAborted);
        return Json(Wire(file));
    }

    /// <summary>One page of the caller's files (newest first unless <c>order=asc</c>), only those of <c>purpose</c> if given.</summary>
    public static IResult List(HttpContext context, FileSearchStorage storage)
    {
        var purpose = context.Request.Query["purpose"].ToString();
        var files = storage.Files(ApiKeyAuthentication.Owner(context)).Where(f => purpose.Length == 0 || f.Purpose == purpose);
        var (page, more) = ListQuery.Read(context.Request.Query, ListQuery.Files).Apply(files, f => f.Id, f => f.CreatedAt);
        return Json(new WirePage<WireFile>(page.Select(Wire).ToList(), more));
    }

    public static IResult Get(string id, HttpContext context, FileSearchStorage storage) => Json(Wire(storage.File(ApiKeyAuthentication.Owner(context), id)));

    public static async Task<IResult> Delete(string id, HttpContext context, FileSearchStorage storage)
    {
        await storage.DeleteFileAsync(ApiKeyAuthentication.Owner(context), id, context.RequestAborted);
        return Json(new WireDeleted(id, "file"));
    }

    internal static WireFile Wire(StoredFile file) => new(file.Id, file.Bytes, file.CreatedAt, file.Filename, file.Purpose);

    internal static IResult Json(object value) => Results.Json(value, WireJson.Options);
}
