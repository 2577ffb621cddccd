using Substrate.Inference.CpuDecode;
using Substrate.Models;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Inference;

/// <summary>
/// The decode loop over token ids: prefill the prompt, then one position per step (with a KV cache) or
/// the whole sequence per step (without). One dispose scope per token, so memory stays flat.
/// A prompt longer than the model's context (max_position_embeddings) is an error; generation ends
/// early when the context is full. With the cache, <see cref="CpuDecoder"/> runs the loop where it can
/// (see <see cref="GenerationOptions.Decoder"/>); the TorchSharp forward stays as the reference path.
/// </summary>
public sealed class TokenGenerator
{
    private readonly LlamaForCausalLM? model;
    private readonly CpuDecoder? fileDecoder; // a decoder over weights outside TorchSharp (a mapped GGUF file), reused per call

    public TokenGenerator(LlamaForCausalLM model) => (this.model, Config) = (model, model.Config);

    /// <summary>Generates with <paramref name="decoder"/> alone (e.g. <c>GgufCpuDecoder.Open</c>: quantized blocks in
    /// place): its <see cref="CpuDecoder.MaxLength"/> is the context. The caller owns and disposes it.</summary>
    public TokenGenerator(CpuDecoder decoder) => (fileDecoder, Config) = (decoder, decoder.Config);

    public LlamaForCausalLM Model => model ?? throw new InvalidOperationException("this generator runs a CPU decoder over a file, not a TorchSharp model");

    public ModelConfig Config { get; }

    /// <summary>Tokens a sequence may hold: max_position_embeddings, or the file decoder's length.</summary>
    public int Context => fileDecoder?.MaxLength ?? Config.MaxPositionEmbeddings;

    /// <summary>New token ids, lazily; an id in <paramref name="stopIds"/> (EOS) ends generation and is not returned.
    /// <paramref name="stats"/>, when given, is filled in as tokens come.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options, IReadOnlySet<int>? stopIds = null, GenerationStats? stats = null) =>
        Generate(prompt, options, new StopRules(stopIds ?? new HashSet<int>(), options.StopStrings, options.MaxTokens, Context), stats);

    /// <summary>New token ids, lazily, until <paramref name="stops"/> ends generation (a stop id is not returned;
    /// stop strings are for whoever decodes the text). <paramref name="stats"/>, when given, is filled in as tokens come.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options, StopRules stops, GenerationStats? stats = null)
    {
        options.Validate(Config.VocabSize);
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty: give at least one token (e.g. BOS)");
        if (prompt.Count > Context)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens; the model's context is {Context}");
        var vocab = Config.VocabSize;
        foreach (var id in prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"prompt token id {id} is outside the model's vocabulary [0, {vocab})");
        var fast = UsesCpuDecoder(options); // eagerly: Decoder = Fast on a model it cannot run is an error here
        return Iterate(prompt, options, fast, stops, stats ?? new GenerationStats());
    }

    private IEnumerable<int> Iterate(IReadOnlyList<int> prompt, GenerationOptions options, bool fast, StopRules stops, GenerationStats stats)
    {
        var ids = new List<int>(prompt);
        stats.PromptTokens = prompt.Count;
        stats.GeneratedTokens = 0;
        stats.FinishReason = FinishReason.None;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var sampler = new Sampler(options);
        var capacity = (int)Math.Min(Math.Min(stops.Context, Context), (long)prompt.Count + stops.MaxTokens);
        using var owned = fast && fileDecoder is null ? new CpuDecoder(model!, capacity) : null;
        var decoder = fileDecoder ?? owned;
        decoder?.Reset();
        var logits = new float[decoder is null ? 0 : Config.VocabSize]; // (V)
        using var cache = decoder is null && options.UseCache ? model!.CreateCache(1, capacity) : null;
        FinishReason? finish;
        for (var step = 0; (finish = stops.Check(stats.GeneratedTokens, ids.Count)) is null; step++)
        {
            int next;
            if (decoder is not null)
            {
                if (step == 0) decoder.Prefill(ids, logits);
                else decoder.Step(ids[^1], logits);
                next = sampler.Sample(logits, ids);
            }
            else next = TorchStep(ids, cache, sampler);
            if (step == 0) stats.PrefillTime = clock.Elapsed;
            else stats.DecodeTime = clock.Elapsed - stats.PrefillTime;
            if (stops.IsStopId(next))
            {
                stats.FinishReason = FinishReason.Eos;
                yield break;
            }
            ids.Add(next);
            stats.GeneratedTokens++;
            yield return next;
        }
        stats.FinishReason = finish.Value;
    }

    /// <summary>One step of the reference path: the positions not yet in the cache (all of them without one) through the model.</summary>
    private int TorchStep(List<int> ids, KvCache? cache, Sampler sampler)
    {
        var model = Model;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var start = cache is null ? 0 : (int)cache.Length;                           // positions already in the cache
        var fresh = ids.Skip(start).Select(i => (long)i).ToArray();
        var input = tensor(fresh, [1, fresh.Length], device: model.Options.Device); // (1, T)
        var logits = model.LastLogits(input, cache, start);                         // (1, 1, V)
        return sampler.Sample(logits[0, -1], ids);
    }

    private bool UsesCpuDecoder(GenerationOptions options) => options.Decoder switch
    {
        DecoderImplementation.Torch when fileDecoder is not null => throw new NotSupportedException("a GGUF file runs on the CPU decoder only"),
        _ when fileDecoder is not null => true,
        DecoderImplementation.Torch => false,
        _ when !options.UseCache => false,
        DecoderImplementation.Fast => CpuDecoder.Supports(model!, out var reason) ? true : throw new NotSupportedException($"Decoder = Fast: {reason}"),
        _ => CpuDecoder.Supports(model!, out _),
    };
}
