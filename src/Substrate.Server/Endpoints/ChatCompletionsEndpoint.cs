using System.Text;
using Microsoft.AspNetCore.Http;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Server.Wire;

namespace Substrate.Server.Endpoints;

/// <summary><c>POST /v1/chat/completions</c>: one JSON completion, or server-sent <c>chat.completion.chunk</c>s with stream: true.</summary>
public static class ChatCompletionsEndpoint
{
    public static async Task Handle(HttpContext context, IInferenceEngine engine, ServerMetrics metrics)
    {
        using var doc = await RequestBody.Read(context);
        var (request, stream, includeUsage) = ChatRequestParser.Parse(RequestReader.Of(doc), engine.Context, engine.GenerationDefaults);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var cancel = context.RequestAborted;
        await using var chunks = metrics.Meter(engine.StreamAsync(request, cancel), cancel); // counts tokens as they come
        var more = await chunks.MoveNextAsync(); // errors (model, prompt, queue) surface here, before any byte is sent
        if (!stream)
        {
            var text = new StringBuilder();
            var tokens = new List<WireTokenLogprob>();
            CompletionChunk last = new("");
            for (; more; more = await chunks.MoveNextAsync())
            {
                last = chunks.Current;
                text.Append(last.Text);
                tokens.AddRange(last.Tokens?.Select(WireTokenLogprob.From) ?? []);
            }
            var usage = last.Usage ?? new CompletionUsage(0, 0);
            var message = last.ToolCalls is { Count: > 0 } calls
                ? new WireChatMessage("assistant", null, calls.Select(c => WireToolCall.From(c)).ToList())
                : new WireChatMessage("assistant", text.ToString());
            var logprobs = request.TopLogprobs is not null ? new WireChatLogprobs(tokens) : null;
            var choice = new WireChatChoice(0, message, logprobs, (last.FinishReason ?? FinishReason.Stop).ToWire());
            var completion = new WireChatCompletion(id, created, request.Model, [choice], WireUsage.From(usage));
            await context.Response.WriteAsJsonAsync(completion, WireJson.Options, cancel);
            return;
        }
        var events = new ServerSentEvents(context.Response);
        events.Start();
        await events.Send(new WireChatChunk(id, created, request.Model, [new WireChunkChoice(0, new WireChatDelta("assistant", ""), null, null)]), cancel);
        for (; more; more = await chunks.MoveNextAsync())
        {
            var chunk = chunks.Current;
            var logprobs = chunk.Tokens is { } t ? new WireChatLogprobs(t.Select(WireTokenLogprob.From).ToList()) : null;
            if (chunk.ToolCalls is { Count: > 0 } calls)
                await events.Send(new WireChatChunk(id, created, request.Model, [new WireChunkChoice(0,
                    new WireChatDelta(ToolCalls: calls.Select((c, i) => WireToolCall.From(c, i)).ToList()), null, null)]), cancel);
            else if (chunk.Text.Length > 0)
                await events.Send(new WireChatChunk(id, created, request.Model,
                    [new WireChunkChoice(0, new WireChatDelta(Content: chunk.Text), logprobs, null)]), cancel);
            if (chunk.FinishReason is { } finish)
            {
                var usage = chunk.Usage ?? new CompletionUsage(0, 0);
                    await events.Send(new WireChatChunk(id, created, request.Model,
                        [new WireChunkChoice(0, new WireChatDelta(), null, finish.ToWire())]), cancel);
                if (includeUsage) await events.Send(new WireChatChunk(id, created, request.Model, [], WireUsage.From(usage)), cancel);
            }
        }
        await events.Done(cancel);
    }
}
