using Substrate.Models;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Inference;

/// <summary>
/// The decode loop over token ids: prefill the prompt, then one position per step (with a KV cache) or
/// the whole sequence per step (without). One dispose scope per token, so memory stays flat.
/// A prompt longer than the model's context (max_position_embeddings) is an error; generation ends
/// early when the context is full.
/// </summary>
public sealed class TokenGenerator(LlamaForCausalLM model)
{
    public LlamaForCausalLM Model => model;

    /// <summary>New token ids, lazily; an id in <paramref name="stopIds"/> (EOS) ends generation and is not returned.
    /// <paramref name="stats"/>, when given, is filled in as tokens come.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options, IReadOnlySet<int>? stopIds = null, GenerationStats? stats = null)
    {
        options.Validate();
        var context = model.Config.MaxPositionEmbeddings;
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty: give at least one token (e.g. BOS)");
        if (prompt.Count > context)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens; the model's context (max_position_embeddings) is {context}");
        var vocab = model.Config.VocabSize;
        foreach (var id in prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"prompt token id {id} is outside the model's vocabulary [0, {vocab})");
        return Iterate(prompt, options, stopIds ?? new HashSet<int>(), stats ?? new GenerationStats());
    }

    private IEnumerable<int> Iterate(IReadOnlyList<int> prompt, GenerationOptions options, IReadOnlySet<int> stopIds, GenerationStats stats)
    {
        var context = model.Config.MaxPositionEmbeddings;
        var ids = new List<int>(prompt);
        stats.PromptTokens = prompt.Count;
        stats.GeneratedTokens = 0;
        stats.FinishReason = FinishReason.None;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var sampler = new Sampler(options);
        using var cache = options.UseCache ? model.CreateCache(1, Math.Min(context, prompt.Count + options.MaxTokens)) : null;
        var device = model.Options.Device;
        for (var step = 0; step < options.MaxTokens && ids.Count < context; step++)
        {
            int next;
            using (NewDisposeScope())
            using (no_grad())
            {
                var start = cache is null ? 0 : (int)cache.Length;       // positions already in the cache
                var fresh = ids.Skip(start).Select(i => (long)i).ToArray();
                var input = tensor(fresh, [1, fresh.Length], device: device); // (1, T)
                var logits = model.forward(input, cache, start);                // (1, T, V)
                next = sampler.Sample(logits[0, -1], ids);
            }
            if (step == 0) stats.PrefillTime = clock.Elapsed;
            else stats.DecodeTime = clock.Elapsed - stats.PrefillTime;
            if (stopIds.Contains(next))
            {
                stats.FinishReason = FinishReason.Eos;
                yield break;
            }
            ids.Add(next);
            stats.GeneratedTokens++;
            yield return next;
        }
        stats.FinishReason = ids.Count >= context && stats.GeneratedTokens < options.MaxTokens ? FinishReason.Context : FinishReason.MaxTokens;
    }
}
