using Microsoft.AspNetCore.Http;

namespace Substrate.Server;

/// <summary>Writes OpenAI-style error bodies: <c>{"error": {"message", "type", "param", "code"}}</c> (param and code may be null).</summary>
public static class ErrorBody
{
    public static Task Write(HttpContext context, ApiException e)
    {
        context.Response.StatusCode = e.Status;
        return context.Response.WriteAsJsonAsync(new { error = new { message = e.Message, type = e.Type, param = e.Param, code = e.Code } });
    }
}
