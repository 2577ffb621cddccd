using Substrate.Inference.Serving;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Inference.Tests;

public class StopRulesTests
{
    private static readonly ByteTokenizer Bytes = new();

    /// <summary>The byte tokenizer plus one end-of-turn token, "&lt;|eot_id|&gt;" = id 7.</summary>
    private sealed class EndOfTurnTokenizer : ITokenizer
    {
        public const int EndOfTurn = 7;
        public int VocabSize => Bytes.VocabSize;
        public SpecialTokenIds Special => Bytes.Special;
        public int[] Encode(string text, bool addSpecialTokens = false) => Bytes.Encode(text, addSpecialTokens);
        public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => Bytes.Decode(ids, skipSpecialTokens);
        public int? TokenToId(string token) => token == "<|eot_id|>" ? EndOfTurn : null;
        public string? IdToToken(int id) => id == EndOfTurn ? "<|eot_id|>" : null;
    }

    private static readonly GenerationOptions Options = new() { MaxTokens = 5, StopStrings = ["END"] };

    [Fact]
    public void Eos_of_the_tokenizer_and_of_the_model_config_end_generation()
    {
        using var model = TinyModel.Create();
        var rules = StopRules.For(model, Bytes, Options);
        Assert.True(rules.IsStopId(ByteTokenizer.Eos));
        Assert.False(rules.IsStopId(ByteTokenizer.Bos));
        Assert.False(rules.IsStopId('a'));
        Assert.Equal(["END"], rules.StopStrings);
    }

    [Fact]
    public void A_chat_ends_at_the_end_of_turn_token_the_vocabulary_has_and_the_transcript_at_the_next_user_line()
    {
        using var model = TinyModel.Create();
        var templated = new ChatFormat(new EndOfTurnTokenizer(), TokenizerConfig.Empty with { ChatTemplate = "{{ messages[0].content }}" });
        var chat = StopRules.For(model, new EndOfTurnTokenizer(), Options, templated);
        Assert.True(chat.IsStopId(EndOfTurnTokenizer.EndOfTurn));
        Assert.True(chat.IsStopId(ByteTokenizer.Eos));
        Assert.Equal(["END"], chat.StopStrings);
        Assert.False(StopRules.For(model, new EndOfTurnTokenizer(), Options).IsStopId(EndOfTurnTokenizer.EndOfTurn)); // not a chat

        var transcript = StopRules.For(model, Bytes, Options, new ChatFormat(Bytes, TokenizerConfig.Empty));
        Assert.Equal(["END", "\nUser:", "\nTool:"], transcript.StopStrings);
    }

    [Fact]
    public void A_stop_string_split_across_tokens_is_held_back_until_it_completes_and_never_released()
    {
        using var model = TinyModel.Create();
        var rules = StopRules.For(model, Bytes, Options, new ChatFormat(Bytes, TokenizerConfig.Empty));
        var decoder = new IncrementalDecoder(Bytes, rules);
        var released = "";
        foreach (var c in "Yes.\nUs") released += decoder.Push(c);
        Assert.Equal("Yes.", released); // "\nUs" may begin "\nUser:"
        Assert.Equal(3, rules.HeldBack("Yes.\nUs", 0, 7));
        foreach (var c in "er: more") released += decoder.Push(c);
        Assert.True(decoder.Stopped);
        Assert.Equal("Yes.", released);
        Assert.Equal(4, rules.FirstStop("Yes.\nUser:", 0));
    }

    [Fact]
    public void Max_tokens_then_the_context_end_generation_and_a_stop_comes_first()
    {
        var rules = new StopRules([], [], maxTokens: 3, context: 10);
        Assert.Null(rules.Check(generated: 0, length: 4));
        Assert.Null(rules.Check(generated: 2, length: 9));
        Assert.Equal(FinishReason.MaxTokens, rules.Check(generated: 3, length: 7));
        Assert.Equal(FinishReason.Context, rules.Check(generated: 2, length: 10));
        Assert.Equal(FinishReason.MaxTokens, rules.Check(generated: 3, length: 10)); // both: max tokens, as either loop said
        Assert.Equal(FinishReason.Stop, rules.Check(generated: 3, length: 10, stopped: true));
        Assert.Equal(FinishReason.MaxTokens, new StopRules([], [], 0, 10).Check(0, 4)); // no room for a first token
    }

    [Fact]
    public void Both_decode_loops_stop_at_the_context_end_by_the_same_rule()
    {
        using var model = TinyModel.Create(maxPositions: 16);
        var prompt = Enumerable.Range(0, 12).Select(i => 'a' + i).ToArray();
        var options = new GenerationOptions { MaxTokens = 50, Temperature = 0 };
        var stats = new GenerationStats();
        var alone = new TokenGenerator(model).Generate(prompt, options, new StopRules([], [], 50, 16), stats).ToList();
        Assert.Equal(FinishReason.Context, stats.FinishReason);
        Assert.Equal(4, alone.Count);

        using var scheduler = new BatchScheduler(model, Bytes);
        var events = scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options }).ReadAllAsync().ToBlockingEnumerable().ToList();
        Assert.Equal(alone, events.Where(e => e.Token is not null).Select(e => e.Token!.Id));
        Assert.Equal(FinishReason.Context, events[^1].Finish);
    }
}
