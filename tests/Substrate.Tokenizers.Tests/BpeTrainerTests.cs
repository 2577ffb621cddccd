using Substrate.Tokenizers.Training;

namespace Substrate.Tokenizers.Tests;

public class BpeTrainerTests
{
    private static readonly int Specials = BpeTrainerOptions.DefaultSpecialTokens.Count;

    [Fact]
    public void Merges_the_most_frequent_pair_first()
    {
        // Words: "hug"×1, " hug"×2, " pug"×2 → (u,g)=5 first, then (h,ug)=3.
        var t = BpeTrainer.Train(["hug hug hug pug pug"], new BpeTrainerOptions { VocabSize = 256 + 2 + Specials, MinFrequency = 1 });
        Assert.Equal([("u", "g"), ("h", "ug")], t.Merges!);
        Assert.Equal(256 + 2 + Specials, t.VocabSize);
        Assert.Equal(256, t.TokenToId("ug"));
        Assert.Equal(257, t.TokenToId("hug"));
        Assert.Equal(258, t.TokenToId("<|begin_of_text|>"));
        Assert.Equal(new SpecialTokenIds(258, 259, 260), t.Special);
        Assert.Equal([257, (int)' ', 257], t.Encode("hug hug"));
        Assert.Equal([258, 257], t.Encode("hug", addSpecialTokens: true));
    }

    [Fact]
    public void Ties_go_to_the_smaller_pair()
    {
        // (a,b) and (c,d) both occur once: (a,b) has the smaller ids.
        var t = BpeTrainer.Train(["cd", "ab"], new BpeTrainerOptions { VocabSize = 256 + 1 + Specials, MinFrequency = 1 });
        Assert.Equal([("a", "b")], t.Merges!);
    }

    [Fact]
    public void Stops_at_min_frequency()
    {
        var t = BpeTrainer.Train(["xy"], new BpeTrainerOptions { VocabSize = 1000, MinFrequency = 2 });
        Assert.Empty(t.Merges!);
        Assert.Equal(256 + Specials, t.VocabSize);
    }

    [Fact]
    public void Is_deterministic()
    {
        var options = new BpeTrainerOptions { VocabSize = 500 };
        var a = BpeTrainer.Train(SampleCorpus.Documents(300), options);
        var b = BpeTrainer.Train(SampleCorpus.Documents(300), options);
        Assert.Equal(500, a.VocabSize);
        Assert.Equal(a.Merges!, b.Merges!);
    }

    [Fact]
    public void Merging_overlapping_pairs_keeps_counts_right()
    {
        // "aaaa": (a,a) merges to "aa"; the word then is aa·aa, so (aa,aa) must be counted once per word.
        var t = BpeTrainer.Train(["aaaa aaaa aaaa"], new BpeTrainerOptions { VocabSize = 256 + 4 + Specials, MinFrequency = 1 });
        Assert.Equal(("a", "a"), t.Merges![0]);
        Assert.Contains(("aa", "aa"), t.Merges!);
        Assert.Equal(t.TokenToId("aaaa"), t.Encode("aaaa").Single());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(261)]
    public void Rejects_a_vocab_too_small_for_bytes_and_specials(int size)
    {
        var e = Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["text"], new BpeTrainerOptions { VocabSize = size }));
        Assert.Contains("262", e.Message);
    }

    [Fact]
    public void Rejects_bos_not_among_specials()
    {
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["text"], new BpeTrainerOptions { BosToken = "<s>" }));
    }

    [Fact]
    public void Reports_progress()
    {
        var stages = new List<string>();
        BpeTrainer.Train(SampleCorpus.Documents(50), new BpeTrainerOptions { VocabSize = 600, Progress = p => stages.Add(p.Stage) });
        Assert.Contains("count", stages);
        Assert.Contains("merge", stages);
    }
}
