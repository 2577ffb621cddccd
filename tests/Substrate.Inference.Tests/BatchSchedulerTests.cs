using Substrate.Inference.Serving;
using Substrate.Models;

namespace Substrate.Inference.Tests;

public class BatchSchedulerTests
{
    private static List<int> Drain(System.Threading.Channels.ChannelReader<SequenceEvent> reader)
    {
        var ids = new List<int>();
        foreach (var e in reader.ReadAllAsync().ToBlockingEnumerable())
        {
            if (e.Error is not null) throw e.Error;
            if (e.Token is { } t) ids.Add(t.Id);
        }
        return ids;
    }

    [Fact]
    public void Batched_greedy_decode_equals_one_sequence_at_a_time()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokenizer = new ByteTokenizer();
        var prompts = new[] { "a", "hello there", "xyz 123 abc", "The quick brown" }.Select(p => tokenizer.Encode(p, true)).ToArray();
        var options = new GenerationOptions { MaxTokens = 20, Temperature = 0 };
        var single = prompts.Select(p => new TokenGenerator(model).Generate(p, options).ToList()).ToArray();

        using var scheduler = new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { MaxBatch = 3 });
        var readers = prompts.Select(p => scheduler.Submit(new SequenceRequest { PromptIds = p, Options = options })).ToArray();
        var batched = readers.Select(Drain).ToArray();
        for (var i = 0; i < prompts.Length; i++) Assert.Equal(single[i], batched[i]);
    }

    [Fact]
    public void Full_queue_is_refused_and_cancelled_sequences_free_their_slot()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokenizer = new ByteTokenizer();
        using var scheduler = new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { MaxBatch = 1, QueueCapacity = 1 });
        var prompt = tokenizer.Encode("hi", true);
        var options = new GenerationOptions { MaxTokens = 1000, Temperature = 0 };
        using var cancel = new CancellationTokenSource();
        var first = scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options }, cancel.Token);
        SpinWait.SpinUntil(() => scheduler.ActiveSequences == 1, 5000);
        var second = scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options with { MaxTokens = 5 } });
        Assert.Throws<QueueFullException>(() => scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options }));
        cancel.Cancel();
        Assert.Equal(5, Drain(second).Count);
        Assert.Throws<PromptTooLongException>(() => scheduler.Submit(new SequenceRequest { PromptIds = new int[64], Options = options }));
    }

    [Fact]
    public void The_context_length_sizes_each_slot_and_ends_a_sequence_that_reaches_it()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokenizer = new ByteTokenizer();
        var options = new GenerationOptions { MaxTokens = 100, Temperature = 0 };
        var prompt = tokenizer.Encode("abc", true); // BOS + 3 bytes = 4 tokens
        var alone = new TokenGenerator(model).Generate(prompt, options).Take(6).ToList();

        using var scheduler = new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { MaxBatch = 2, ContextLength = 10 });
        Assert.Equal(10, scheduler.Context);
        Assert.Equal(alone, Drain(scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options }))); // 4 + 6 = 10
        Assert.Throws<PromptTooLongException>(() => scheduler.Submit(new SequenceRequest { PromptIds = new int[10], Options = options }));

        using var defaulted = new BatchScheduler(model, tokenizer);
        Assert.Equal(64, defaulted.Context); // max_position_embeddings below the 4,096 cap
        Assert.Throws<ArgumentException>(() => new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { ContextLength = 65 }));
    }

    [Fact]
    public void A_slot_reused_after_a_cancelled_sequence_leaks_nothing()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokenizer = new ByteTokenizer();
        var options = new GenerationOptions { MaxTokens = 12, Temperature = 0 };
        var prompt = tokenizer.Encode("ok", true);
        var fresh = new TokenGenerator(model).Generate(prompt, options).ToList();

        using var scheduler = new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { MaxBatch = 1 });
        using var cancel = new CancellationTokenSource();
        var first = scheduler.Submit(new SequenceRequest { PromptIds = tokenizer.Encode("a much longer prompt that fills the slot", true),
            Options = options with { MaxTokens = 1000 } }, cancel.Token);
        first.ReadAsync().AsTask().Wait(); // it has started
        cancel.Cancel();
        Assert.Equal(fresh, Drain(scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options })));
    }

    [Fact]
    public void Logit_bias_applies_to_its_own_row_only()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokenizer = new ByteTokenizer();
        var prompt = tokenizer.Encode("hello", true);
        var options = new GenerationOptions { MaxTokens = 8, Temperature = 0 };
        var plain = new TokenGenerator(model).Generate(prompt, options).ToList();
        var forcedId = plain[0] == 'q' ? 'z' : 'q';

        using var scheduler = new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { MaxBatch = 3 });
        var forced = scheduler.Submit(new SequenceRequest { PromptIds = prompt,
            Options = options with { LogitBias = new Dictionary<int, double> { [forcedId] = 100 } } });
        var forbidden = scheduler.Submit(new SequenceRequest { PromptIds = prompt,
            Options = options with { LogitBias = plain.Distinct().ToDictionary(id => id, _ => -100.0) } });
        var neighbour = scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options });
        Assert.All(Drain(forced), id => Assert.Equal(forcedId, id));
        Assert.DoesNotContain(Drain(forbidden), plain.Contains);
        Assert.Equal(plain, Drain(neighbour));
        Assert.Throws<LogitBiasOutOfVocabularyException>(() => scheduler.Submit(new SequenceRequest { PromptIds = prompt,
            Options = options with { LogitBias = new Dictionary<int, double> { [100_000] = 1 } } }));
    }

    /// <summary>A constraint that allows every token for <paramref name="healthySteps"/> steps, then throws, as a broken
    /// constraint or a sampler meeting NaN logits would.</summary>
    private sealed class ThrowingConstraint(int healthySteps) : ITokenConstraint
    {
        private int steps;
        public bool IsComplete => false;
        public void Advance(int id) { }

        public void Allowed(bool[] allowed)
        {
            if (steps++ >= healthySteps) throw new InvalidOperationException("the model's logits hold NaN (are its weights corrupt?)");
            Array.Fill(allowed, true);
        }
    }

    [Theory]
    [InlineData(0)] // fails at its prefill
    [InlineData(3)] // fails mid-decode, in the batched step
    public void A_failing_row_ends_with_its_error_and_its_neighbours_finish_unchanged(int healthySteps)
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokenizer = new ByteTokenizer();
        var prompts = new[] { "a", "hello there", "xyz 123" }.Select(p => tokenizer.Encode(p, true)).ToArray();
        var options = new GenerationOptions { MaxTokens = 12, Temperature = 0 };
        using var scheduler = new BatchScheduler(model, tokenizer, new BatchSchedulerOptions { MaxBatch = 4 });
        var alone = prompts.Select(p => Drain(scheduler.Submit(new SequenceRequest { PromptIds = p, Options = options }))).ToArray();

        var healthy = prompts.Select(p => scheduler.Submit(new SequenceRequest { PromptIds = p, Options = options })).ToList();
        var hostile = scheduler.Submit(new SequenceRequest { PromptIds = prompts[1], Options = options, Constraint = new ThrowingConstraint(healthySteps) });
        var error = Assert.Throws<InvalidOperationException>(() => Drain(hostile));
        Assert.Contains("NaN", error.Message);
        for (var i = 0; i < prompts.Length; i++) Assert.Equal(alone[i], Drain(healthy[i]));
        Assert.Equal(alone[0], Drain(scheduler.Submit(new SequenceRequest { PromptIds = prompts[0], Options = options }))); // still serving
    }
}
