using System.Threading.Channels;
using Substrate.Models;
using Substrate.Nn;
using Substrate.Tokenizers;
using static TorchSharp.torch;

namespace Substrate.Inference.Serving;

/// <summary>Sizes of a <see cref="BatchScheduler"/>.</summary>
public sealed record BatchSchedulerOptions
{
    /// <summary>Sequences decoded together (KV-cache slots).</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>Requests waiting for a slot: <see cref="MaxBatch"/> + this many are admitted at once, one more is refused
    /// (<see cref="QueueFullException"/>).</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Tokens a sequence may hold (prompt + output): the KV-cache length of every slot. Null: the model's
    /// max_position_embeddings, capped at <see cref="DefaultContextLength"/> as llama.cpp's server caps its context — a
    /// Llama 3.2 cache for all 131,072 positions in 16 slots would be ~68 GB.</summary>
    public int? ContextLength { get; init; }

    public const int DefaultContextLength = 4096;

    /// <summary>The context a model of <paramref name="config"/> runs with under these options (see <see cref="ContextLength"/>).</summary>
    public int ContextFor(ModelConfig config)
    {
        var maxPositions = config.MaxPositionEmbeddings;
        if (ContextLength is { } asked && (asked < 2 || asked > maxPositions))
            throw new ArgumentException($"the context length must be in [2, {maxPositions}] (max_position_embeddings); got {asked}");
        return Math.Min(maxPositions, ContextLength ?? DefaultContextLength);
    }
}

/// <summary>
/// Continuous batching on one thread. Requests wait in a bounded queue; each admitted sequence gets a KV-cache row
/// (slot), its prompt is prefilled alone, and then every step decodes one token for all active sequences in one
/// forward pass (each row at its own position and with its own adapter) of an <see cref="IBatchModel"/>: the TorchSharp
/// model, or the CPU decoder over a GGUF file's quantized blocks. A finished or cancelled sequence frees
/// its row at the next step — the last row moves into the hole, so active rows stay [0, n). All model calls
/// (embeddings too, through <see cref="RunAsync{T}"/>) happen on this thread.
/// </summary>
public sealed class BatchScheduler : IDisposable
{
    private readonly IBatchModel model;
    private readonly ITokenizer tokenizer;
    private readonly IAdapterSwitch? adapters;
    private readonly BatchSchedulerOptions options;
    private readonly Channel<object> queue; // ActiveSequence or a Work item
    private readonly List<ActiveSequence> active = [];
    private readonly Thread thread;
    private readonly CancellationTokenSource stopping = new();
    private readonly bool[] allowed;
    private volatile int activeCount;
    private int admitted; // sequences and work items submitted and not yet retired: at most MaxBatch + QueueCapacity

    public BatchScheduler(LlamaForCausalLM model, ITokenizer tokenizer, BatchSchedulerOptions? options = null, IAdapterSwitch? adapters = null)
        : this(TorchModel(model, options ?? new BatchSchedulerOptions()), tokenizer, options, adapters)
    {
    }

    /// <summary>Steps through <paramref name="model"/> (disposed with the scheduler): <see cref="BatchSchedulerOptions.MaxBatch"/>
    /// is its rows and <see cref="Context"/> its context. <paramref name="adapters"/> need its TorchSharp <see cref="IBatchModel.Model"/>.</summary>
    public BatchScheduler(IBatchModel model, ITokenizer tokenizer, BatchSchedulerOptions? options = null, IAdapterSwitch? adapters = null)
    {
        (this.model, this.tokenizer, this.adapters) = (model, tokenizer, adapters);
        this.options = options ?? new BatchSchedulerOptions();
        if (this.options.QueueCapacity < 1) throw new ArgumentException("QueueCapacity must be ≥ 1");
        if (model.Rows != this.options.MaxBatch) throw new ArgumentException($"the model has {model.Rows} rows; MaxBatch is {this.options.MaxBatch}");
        if (adapters is not null && model.Model is null) throw new ArgumentException("adapters need a TorchSharp model, not a GGUF file on the CPU decoder");
        Context = model.Context;
        allowed = new bool[Math.Min(model.Config.VocabSize, tokenizer.VocabSize)];
        queue = Channel.CreateUnbounded<object>(); // bounded by Reserve; not SingleReader, whose reader cannot Count
        thread = new Thread(Loop) { IsBackground = true, Name = "substrate-scheduler" };
        thread.Start();
    }

    private static TorchBatchModel TorchModel(LlamaForCausalLM model, BatchSchedulerOptions options)
    {
        if (options.MaxBatch < 1 || options.QueueCapacity < 1) throw new ArgumentException("MaxBatch and QueueCapacity must be ≥ 1");
        return new TorchBatchModel(model, options.MaxBatch, options.ContextFor(model.Config));
    }

    /// <summary>Tokens a sequence may hold (see <see cref="BatchSchedulerOptions.ContextLength"/>).</summary>
    public int Context { get; }
    public int QueueDepth => queue.Reader.Count;
    public int ActiveSequences => activeCount;
    public int MaxBatch => options.MaxBatch;

    /// <summary>Queues a sequence; its events arrive on the returned reader. Throws <see cref="QueueFullException"/>
    /// when the queue is full and <see cref="PromptTooLongException"/> when the prompt leaves no room for a token.
    /// Cancelling <paramref name="cancellation"/> (a client gone) ends it and frees its slot at the next step.</summary>
    public ChannelReader<SequenceEvent> Submit(SequenceRequest request, CancellationToken cancellation = default)
    {
        request.Options.Validate(allowed.Length); // the ids both the model and the tokenizer know
        if (request.PromptIds.Count == 0) throw new ArgumentException("the prompt is empty: give at least one token");
        if (request.PromptIds.Count >= Context) throw new PromptTooLongException(request.PromptIds.Count, Context);
        foreach (var id in request.PromptIds)
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary [0, {model.Config.VocabSize})");
        if (request.Adapter is { } name && (adapters is null || !adapters.Names.Contains(name)))
            throw new ArgumentException($"no adapter named '{name}' is loaded");
        Reserve();
        var sequence = new ActiveSequence(request, tokenizer, Context, cancellation);
        if (!queue.Writer.TryWrite(sequence)) { Retire(sequence); throw new ObjectDisposedException(nameof(BatchScheduler)); }
        return sequence.Reader;
    }

    /// <summary>Runs <paramref name="work"/> on the scheduler thread between steps (the model is single-threaded here);
    /// <see cref="NotSupportedException"/> where the model has no TorchSharp form (a GGUF file on the CPU decoder).</summary>
    public Task<T> RunAsync<T>(Func<LlamaForCausalLM, T> work, string? adapter = null)
    {
        if (model.Model is null) throw new NotSupportedException("this needs a model folder: a GGUF file runs on the CPU decoder, which only generates");
        Reserve();
        var item = new Work(m => { using var _ = Select(adapter); return work(m)!; });
        if (!queue.Writer.TryWrite(item)) { Interlocked.Decrement(ref admitted); throw new ObjectDisposedException(nameof(BatchScheduler)); }
        return item.Done.Task.ContinueWith(t => (T)t.Result, TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>Counts one more request in, or refuses it when batch slots and queue are all taken.</summary>
    private void Reserve()
    {
        if (Interlocked.Increment(ref admitted) <= options.MaxBatch + options.QueueCapacity) return;
        Interlocked.Decrement(ref admitted);
        throw new QueueFullException(options.MaxBatch, options.QueueCapacity);
    }

    /// <summary>Disposes a sequence that is done and frees its place among the admitted.</summary>
    private void Retire(ActiveSequence sequence)
    {
        sequence.Dispose();
        Interlocked.Decrement(ref admitted);
    }

    private sealed record Work(Func<LlamaForCausalLM, object> Run)
    {
        public TaskCompletionSource<object> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private void Loop()
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                Release(s => s.Cancellation.IsCancellationRequested || s.Finished);
                Admit();
                Release(s => s.Finished); // done at their first token
                if (active.Count == 0)
                {
                    try { queue.Reader.WaitToReadAsync(stopping.Token).AsTask().Wait(); }
                    catch (AggregateException) { }
                    continue;
                }
                Step();
            }
            catch (Exception e)
            {
                foreach (var s in active) s.Fail(e);
                Release(_ => true);
            }
        }
        foreach (var s in active) s.Fail(new ObjectDisposedException(nameof(BatchScheduler)));
        while (queue.Reader.TryRead(out var item))
            if (item is ActiveSequence s) s.Fail(new ObjectDisposedException(nameof(BatchScheduler)));
            else if (item is Work w) w.Done.TrySetException(new ObjectDisposedException(nameof(BatchScheduler)));
    }

    /// <summary>Takes queued work while slots are free: runs work items, prefills new sequences.</summary>
    private void Admit()
    {
        while (active.Count < options.MaxBatch && queue.Reader.TryRead(out var item))
        {
            if (item is Work work)
            {
                try { work.Done.TrySetResult(work.Run(model.Model!)); }
                catch (Exception e) { work.Done.TrySetException(e); }
                finally { Interlocked.Decrement(ref admitted); }
                continue;
            }
            var sequence = (ActiveSequence)item;
            if (sequence.Cancellation.IsCancellationRequested) { sequence.Fail(new OperationCanceledException()); Retire(sequence); continue; }
            sequence.Row = active.Count;
            active.Add(sequence);
            activeCount = active.Count;
            try { Prefill(sequence); }
            catch (Exception e) when (e is not OutOfMemoryException) { sequence.Fail(e); } // this row only; released next step
        }
    }

    private void Prefill(ActiveSequence sequence)
    {
        var prompt = sequence.Request.PromptIds;
        if (sequence.Stops.Check(0, prompt.Count) is { } nothing) { sequence.Finish(nothing); return; } // no room for a token
        using var adapter = Select(sequence.Request.Adapter);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Prefill(sequence.Row, prompt); // (V)
        sequence.Position = prompt.Count;
        Choose(sequence, logits);
        sequence.Stats.PrefillTime = sequence.Clock.Elapsed;
    }

    /// <summary>One decode step for every active sequence (rows [0, n)): one forward pass, adapters chosen per row.</summary>
    private void Step()
    {
        var names = active.Select(s => s.Request.Adapter).ToArray();
        using var adapter = names.Distinct().Count() == 1 ? Select(names[0]) : adapters!.UseRows(names);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Step(active.Select(s => s.Pending).ToArray(), active.Select(s => s.Position).ToArray()); // (B, V)
        for (var i = 0; i < active.Count; i++)
        {
            var sequence = active[i];
            sequence.Position++;
            // A failure in one row (its constraint, its sampler: NaN logits) ends that row, never its neighbours.
            try { Choose(sequence, logits[i]); }
            catch (Exception e) when (e is not OutOfMemoryException) { sequence.Fail(e); }
            sequence.Stats.DecodeTime = sequence.Clock.Elapsed - sequence.Stats.PrefillTime;
        }
    }

    /// <summary>Samples the next token of <paramref name="sequence"/> from its logits (V) and emits it, or finishes the sequence.</summary>
    private void Choose(ActiveSequence sequence, Tensor logits)
    {
        var request = sequence.Request;
        if (logits.shape[0] > tokenizer.VocabSize) logits = logits.narrow(0, 0, tokenizer.VocabSize); // rows past the tokenizer's ids are padding
        if (request.Constraint is { } constraint)
        {
            Array.Clear(allowed);
            constraint.Allowed(allowed);
            var mask = tensor(allowed, device: logits.device).logical_not();               // (V)
            if (mask.all().item<bool>()) { sequence.Finish(FinishReason.Stop); return; }  // nothing can follow
            logits = logits.masked_fill(mask, double.NegativeInfinity);
        }
        var next = sequence.Sampler.Sample(logits, sequence.Ids);
        float? logprob = null;
        List<TokenLogprob>? top = null;
        if (request.TopLogprobs is { } topCount)
        {
            var logp = logits.to(ScalarType.Float32, CPU).log_softmax(-1); // (V)
            logprob = logp[next].item<float>();
            if (topCount > 0)
            {
                var (values, indices) = logp.topk(Math.Min(topCount, (int)logp.shape[0]));
                var v = values.data<float>().ToArray();
                var ix = indices.data<long>().ToArray();
                top = v.Select((x, i) => new TokenLogprob((int)ix[i], x)).ToList();
            }
        }
        if (sequence.Stops.IsStopId(next) && request.Constraint is null) { sequence.Finish(FinishReason.Eos); return; }
        sequence.Ids.Add(next);
        sequence.Pending = next;
        sequence.Stats.GeneratedTokens++;
        request.Constraint?.Advance(next);
        var piece = sequence.Decoder.Push(next);
        sequence.Emit(new GeneratedToken(next, piece, logprob, top));
        var stopped = sequence.Decoder.Stopped || request.Constraint?.IsComplete == true;
        if (sequence.Stops.Check(sequence.Stats.GeneratedTokens, sequence.Position + 1, stopped) is { } reason) sequence.Finish(reason);
    }

    /// <summary>Frees the rows of sequences that match: the last active row moves into each hole.</summary>
    private void Release(Func<ActiveSequence, bool> done)
    {
        for (var i = active.Count - 1; i >= 0; i--)
        {
            var sequence = active[i];
            if (!done(sequence)) continue;
            if (!sequence.Finished) sequence.Fail(new OperationCanceledException("the client went away"));
            Retire(sequence);
            var last = active[^1];
            if (last != sequence)
            {
                model.CopyRow(last.Row, sequence.Row, last.Position);
                last.Row = sequence.Row;
                active[i] = last;
            }
            active.RemoveAt(active.Count - 1);
        }
        activeCount = active.Count;
    }

    private IDisposable? Select(string? name) => adapters?.Use(name);

    public void Dispose()
    {
        stopping.Cancel();
        queue.Writer.TryComplete();
        thread.Join();
        model.Dispose();
    }
}
