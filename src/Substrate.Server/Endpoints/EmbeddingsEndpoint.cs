using Microsoft.AspNetCore.Http;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Server.Wire;

namespace Substrate.Server.Endpoints;

/// <summary><c>POST /v1/embeddings</c>: the mean of the model's final hidden states (after the last norm) over each
/// input's tokens, L2-normalised (cosine similarity = dot product). encoding_format float (default) or base64
/// (little-endian float32, what the OpenAI SDKs ask for).</summary>
public static class EmbeddingsEndpoint
{
    public static async Task Handle(HttpContext context, IInferenceEngine engine, ServerMetrics metrics, ServerOptions options)
    {
        using var doc = await RequestBody.Read(context);
        var r = RequestReader.Of(doc);
        var model = r.RequiredString("model");
        var inputs = r.Strings("input", options.MaxEmbeddingInputs) ?? throw ApiException.Invalid("'input' is required", "input", "missing_required_parameter");
        if (inputs.Count == 0 || inputs.Any(i => i.Length == 0)) throw ApiException.Invalid("'input' must not be empty", "input");
        var base64 = r.String("encoding_format") switch
        {
            null or "float" => false,
            "base64" => true,
            var other => throw ApiException.Invalid($"encoding_format must be float or base64 (got '{other}')", "encoding_format"),
        };
        if (r.Has("dimensions"))
            throw ApiException.Invalid("dimensions is not supported (the size is the model's hidden size)", "dimensions", "unsupported_value");
        var result = await engine.EmbedAsync(model, inputs, context.RequestAborted);
        metrics.Tokens(result.PromptTokens, 0);
        var data = result.Vectors.Select((v, i) =>
            new WireEmbedding(i, base64 ? Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan())) : v)).ToList();
        await context.Response.WriteAsJsonAsync(
            new WireEmbeddingList(data, model, new WireEmbeddingUsage(result.PromptTokens, result.PromptTokens)), WireJson.Options);
    }
}
