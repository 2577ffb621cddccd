using System.Text;
using Microsoft.AspNetCore.Http;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Server.Wire;

namespace Substrate.Server.Endpoints;

/// <summary><c>POST /v1/completions</c>: continue a prompt (no chat template), with <c>logprobs</c> (0–20 alternatives) in
/// the legacy layout: tokens, token_logprobs, top_logprobs, text_offset.</summary>
public static class CompletionsEndpoint
{
    public static async Task Handle(HttpContext context, IInferenceEngine engine, ServerMetrics metrics)
    {
        using var doc = await RequestBody.Read(context);
        var r = RequestReader.Of(doc);
        var model = r.RequiredString("model");
        var prompts = r.Strings("prompt", 1) ?? throw ApiException.Invalid("'prompt' is required (one string)", "prompt", "missing_required_parameter");
        if (r.Bool("echo") == true) throw ApiException.Invalid("echo is not supported", "echo", "unsupported_value");
        if (r.Has("suffix")) throw ApiException.Invalid("suffix is not supported", "suffix", "unsupported_value");
        var request = new CompletionRequest
        {
            Model = model, Prompt = prompts[0], Options = SamplingParameters.Read(r, engine.Context, engine.GenerationDefaults),
            TopLogprobs = (int?)r.Integer("logprobs", 0, OpenAiLimits.MaxTopLogprobs),
        };
        var stream = r.Bool("stream") ?? false;
        var id = "cmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var cancel = context.RequestAborted;
        await using var chunks = metrics.Meter(engine.StreamAsync(request, cancel), cancel); // counts tokens as they come
        bool more;
        try { more = await chunks.MoveNextAsync(); }
        catch (PromptTooLongException e) { throw new ApiException(400, e.Message, param: "prompt", code: "context_length_exceeded"); }
        var logprobs = request.TopLogprobs is not null ? new WireCompletionLogprobs([], [], [], []) : null;
        var text = new StringBuilder();
        var events = stream ? new ServerSentEvents(context.Response) : null;
        events?.Start();
        CompletionChunk last = new("");
        for (; more; more = await chunks.MoveNextAsync())
        {
            last = chunks.Current;
            var piece = stream ? new WireCompletionLogprobs([], [], [], []) : logprobs;
            foreach (var t in last.Tokens ?? [])
            {
                piece!.TextOffset.Add(prompts[0].Length + text.Length + piece.Tokens.Sum(x => x.Length));
                piece.Tokens.Add(t.Token);
                piece.TokenLogprobs.Add(t.Logprob);
                piece.TopLogprobs.Add(request.TopLogprobs > 0 ? t.Top.GroupBy(x => x.Key).ToDictionary(g => g.Key, g => g.First().Value) : null);
            }
            if (events is not null && (last.Text.Length > 0 || last.FinishReason is not null))
                await events.Send(new WireCompletion(id, created, model,
                    [new WireCompletionChoice(last.Text, 0, request.TopLogprobs is not null ? piece : null, last.FinishReason?.ToWire())],
                    last.Usage is { } u ? WireUsage.From(u) : null), cancel);
            text.Append(last.Text);
        }
        var usage = last.Usage ?? new CompletionUsage(0, 0);
        if (events is not null) { await events.Done(cancel); return; }
        var choice = new WireCompletionChoice(text.ToString(), 0, logprobs, (last.FinishReason ?? FinishReason.Stop).ToWire());
        await context.Response.WriteAsJsonAsync(new WireCompletion(id, created, model, [choice], WireUsage.From(usage)), WireJson.Options, cancel);
    }
}
