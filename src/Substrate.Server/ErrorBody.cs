using Microsoft.AspNetCore.Http;

namespace Substrate.Server;

/// <summary>Writes OpenAI-style error bodies: <c>{"error": {"message", "type", "param", "code"}}</c> (param and code may be null).</summary>
public static class ErrorBody
{
    public static Task Write(HttpContext context, ApiException e)
    {
        context.Response.StatusCode = e.Status;
        // A body too large was left unread: Kestrel will close the connection rather than drain it, so tell the client not
        // to reuse it (else its next request on the pooled connection fails with "the response ended prematurely").
        if (e.Status == 413) context.Response.Headers.Connection = "close";
        if (e.RetryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return context.Response.WriteAsJsonAsync(Of(e));
    }

    /// <summary>The body: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
    public static object Of(ApiException e) => new { error = new { message = e.Message, type = e.Type, param = e.Param, code = e.Code } };
}
