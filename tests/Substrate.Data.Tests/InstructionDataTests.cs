using Substrate.Data.Instructions;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;
using Substrate.Tokenizers.Formats;

namespace Substrate.Data.Tests;

public class InstructionDataTests
{
    private static readonly ByteTokenizer Tokenizer = new();
    private static readonly TokenizerConfig Llama3 = TokenizerConfig.Empty with { ChatTemplate = HfTokenizerJsonWriter.Llama3ChatTemplate, BosToken = "<B>" };

    private static string Trained(SupervisedExample e) =>
        string.Join("|", Runs(e).Where(r => r.Train).Select(r => Tokenizer.Decode(r.Ids)));

    private static IEnumerable<(bool Train, int[] Ids)> Runs(SupervisedExample e)
    {
        int start = 0;
        for (int i = 1; i <= e.Ids.Length; i++)
            if (i == e.Ids.Length || e.Train[i] != e.Train[start]) { yield return (e.Train[start], e.Ids[start..i]); start = i; }
    }

    [Fact]
    public void EveryAssistantTurnOfAChatIsTrainedAndNothingElse()
    {
        var chat = InstructionFile.Parse("""{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Bye"},{"role":"assistant","content":"Bye!"}]}""", "x:1");
        var e = new SupervisedEncoder(Tokenizer, Llama3).Encode(chat);
        Assert.Equal("Hello!<|eot_id|>|Bye!<|eot_id|>", Trained(e));
        Assert.Equal(new ChatTemplate(Llama3.ChatTemplate!).Render(((ChatRecord)chat).Messages, false, "<B>"), Tokenizer.Decode(e.Ids));
    }

    [Fact]
    public void TemplateLessBasesUseTheTranscriptAndEndTurnsWithEos()
    {
        var chat = InstructionFile.Parse("""{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}""", "x:1");
        var e = new SupervisedEncoder(Tokenizer, TokenizerConfig.Empty).Encode(chat);
        Assert.Equal("User: Hi\nAssistant: Hello\n", Tokenizer.Decode(e.Ids));
        Assert.Equal(" Hello\n", Trained(e)); // + EOS (256, not decoded)
        Assert.Equal(256, e.Ids[^1]);
        Assert.True(e.Train[^1]);
    }

    [Fact]
    public void PromptCompletionTrainsTheCompletionAndEos()
    {
        var e = new SupervisedEncoder(Tokenizer, Llama3).Encode(InstructionFile.Parse("""{"prompt":"Q: 2+2?\nA:","completion":" 4"}""", "x:1"));
        Assert.Equal(" 4", Trained(e));
        Assert.Equal(256, e.Ids[^1]);
        Assert.True(e.Train[^1]);
        Assert.False(e.Train[0]);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"wizard","content":"x"},{"role":"assistant","content":"y"}]}""", "unknown role 'wizard'")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "no assistant turn")]
    [InlineData("""{"prompt":"x","completion":""}""", "completion is empty")]
    [InlineData("""{"prompt":"x","completion":""" , "malformed JSON")]
    [InlineData("""{"text":"x"}""", "expected")]
    [InlineData("""{"prompt":"x","completion":3}""", "must be a string")]
    [InlineData("""{"messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"c","arguments":"{oops"}}]}]}""",
        "must be a JSON object")]
    [InlineData("""{"messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"c","arguments":"3"}}]}]}""",
        "must be a JSON object")]
    [InlineData("""{"messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":" ","arguments":{}}}]}]}""",
        "\"name\" is empty")]
    public void BadRecordsNameFileAndLine(string line, string message)
    {
        var path = Path.Combine(Path.GetTempPath(), $"substrate-sft-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, """{"prompt":"a","completion":"b"}""" + "\n\n" + line + "\n");
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => InstructionFile.Read(path));
            Assert.StartsWith($"{path}:3: ", e.Message);
            Assert.Contains(message, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void PackingKeepsTheMaskAndNeverPredictsAcrossExamples()
    {
        var a = new SupervisedExample([1, 2, 3, 4], [false, false, true, true], "a");
        var b = new SupervisedExample([5, 6, 7], [false, true, true], "b");
        var c = new SupervisedExample([8, 9, 10, 11, 12, 13, 14, 15, 16, 17], [false, true, true, true, true, true, true, true, true, true], "c");
        var packed = new PackedRows([a, b, c], seqLen: 7, padId: 0);
        Assert.Equal(2, packed.Count); // a+b in one row of 8, c cut to 8
        Assert.Equal(1, packed.Truncated);
        var x = new long[7];
        var y = new long[7];
        packed.Fill(0, x, y);
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7], x);
        Assert.Equal([-100L, 3, 4, -100, 6, 7, -100], y); // 5 (b's first token) is not predicted from a
        packed.Fill(1, x, y);
        Assert.Equal([8L, 9, 10, 11, 12, 13, 14], x);
        Assert.Equal([9L, 10, 11, 12, 13, 14, 15], y);
        Assert.Equal(4 + 7, packed.TargetTokens);

        var unpacked = new PackedRows([a, b], seqLen: 7, padId: 0, pack: false);
        Assert.Equal(2, unpacked.Count);
        unpacked.Fill(1, x, y);
        Assert.Equal([5L, 6, 7, 0, 0, 0, 0], x);
        Assert.Equal([6L, 7, -100, -100, -100, -100, -100], y);
    }
}
