using System.Threading.Channels;
using Substrate.Tokenizers;

namespace Substrate.Inference.Serving;

/// <summary>A sequence the scheduler is working on: its request, its KV-cache slot (row), sampler, decoder and reader.</summary>
internal sealed class ActiveSequence(SequenceRequest request, ITokenizer tokenizer, int context, CancellationToken cancellation) : IDisposable
{
    private readonly Channel<SequenceEvent> events =
        Channel.CreateUnbounded<SequenceEvent>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
    private IncrementalDecoder? decoder;

    public SequenceRequest Request => request;
    public CancellationToken Cancellation => cancellation;
    public ChannelReader<SequenceEvent> Reader => events.Reader;
    public Sampler Sampler { get; } = new(request.Options);

    /// <summary>When this sequence ends: its stop ids and strings, max tokens and the model's context.</summary>
    public StopRules Stops { get; } = new(request.StopIds, request.Options.StopStrings, request.Options.MaxTokens, context);
    public IncrementalDecoder Decoder => decoder ??= new(tokenizer, Stops);
    public List<int> Ids { get; } = new(request.PromptIds);
    public GenerationStats Stats { get; } = new() { PromptTokens = request.PromptIds.Count };
    public System.Diagnostics.Stopwatch Clock { get; } = System.Diagnostics.Stopwatch.StartNew();

    /// <summary>The KV-cache row this sequence owns; -1 while queued.</summary>
    public int Row { get; set; } = -1;

    /// <summary>Positions filled in its row (the position of <see cref="Pending"/>).</summary>
    public int Position { get; set; }

    /// <summary>The last sampled token, not yet fed to the model.</summary>
    public int Pending { get; set; }

    public bool Finished { get; private set; }

    public void Emit(GeneratedToken token) => events.Writer.TryWrite(new SequenceEvent(token));

    public void Finish(FinishReason reason)
    {
        if (Finished) return;
        Finished = true;
        Stats.FinishReason = reason;
        var rest = reason == FinishReason.Stop && Decoder.Stopped ? "" : Decoder.Flush();
        events.Writer.TryWrite(new SequenceEvent(null, reason, Stats, Rest: rest));
        events.Writer.TryComplete();
    }

    public void Fail(Exception error)
    {
        if (Finished) return;
        Finished = true;
        events.Writer.TryWrite(new SequenceEvent(null, Error: error));
        events.Writer.TryComplete();
    }

    public void Dispose() => Sampler.Dispose();
}
