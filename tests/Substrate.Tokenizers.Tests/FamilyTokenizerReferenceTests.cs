using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Substrate.Tokenizers.Tests.References;

namespace Substrate.Tokenizers.Tests;

/// <summary>
/// The real tokenizer.json files of five families against transformers.js's tokenizer code
/// (@lenml/tokenizers, run by References/reference-family-tokenizer.cjs) on the property corpus:
/// every text must give the same ids, with and without the post-processor's special tokens.
/// </summary>
public class FamilyTokenizerReferenceTests
{
    public static TheoryData<string> Families => new() { "llama3_1", "qwen3", "gemma3", "deepseek_v3", "gptoss" };

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Ids_match_transformers_js_on_the_property_corpus(string family)
    {
        Skip.If(NodeReference.Unavailable is not null, NodeReference.Unavailable);
        string models = ReferenceFiles.Path($"lenml-tokenizer-{family}-3.7.2", "models")!;
        var ours = TokenizerLoader.Load(models);
        var specialTexts = SpecialTexts(Path.Combine(models, "tokenizer.json"));
        var texts = TestStrings.Hard.Concat(PropertyCorpus.CorpusParagraphs(400))
            .Concat(PropertyCorpus.Generated(3000, specialTexts.Select(s => s.Content).ToArray())).ToArray();
        var expected = RunReference(models, texts);

        int compared = 0;
        for (int i = 0; i < texts.Length; i++)
        {
            AssertSame(family, texts[i], true, expected[i].With, ours.Encode(texts[i], addSpecialTokens: true), ours);
            // transformers.js always matches special-token text; ours only when asked (addSpecialTokens), so those texts are compared once.
            if (specialTexts.Any(s => s.Special && texts[i].Contains(s.Content, StringComparison.Ordinal))) continue;
            AssertSame(family, texts[i], false, expected[i].Without, ours.Encode(texts[i], addSpecialTokens: false), ours);
            compared++;
        }
        Assert.True(compared > texts.Length / 2, $"only {compared} of {texts.Length} texts compared without special tokens");
    }

    private static void AssertSame(string family, string text, bool addSpecial, int[] expected, int[] actual, ITokenizer ours)
    {
        if (expected.AsSpan().SequenceEqual(actual)) return;
        int at = 0;
        while (at < expected.Length && at < actual.Length && expected[at] == actual[at]) at++;
        string Tokens(int[] ids) => string.Join(" ", ids.Skip(Math.Max(0, at - 2)).Take(6).Select(id => $"{id}:{JsonSerializer.Serialize(ours.IdToToken(id))}"));
        Assert.Fail($"{family} (addSpecialTokens={addSpecial}) differs at token {at} on {JsonSerializer.Serialize(text)}\n" +
            $"  transformers.js: {Tokens(expected)}\n  Substrate:       {Tokens(actual)}");
    }

    private sealed record Reference(int[] With, int[] Without);

    private sealed record SpecialText(string Content, bool Special);

    private static List<SpecialText> SpecialTexts(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        return doc.RootElement.GetProperty("added_tokens").EnumerateArray()
            .Select(t => new SpecialText(t.GetProperty("content").GetString()!, t.GetProperty("special").GetBoolean()))
            .Where((_, i) => i < 64 || i % 97 == 0).ToList();
    }

    private static Reference[] RunReference(string models, IReadOnlyList<string> texts)
    {
        string work = Directory.CreateTempSubdirectory("substrate-family-tokenizer-").FullName;
        try
        {
            string input = Path.Combine(work, "texts.jsonl"), output = Path.Combine(work, "ids.jsonl");
            File.WriteAllLines(input, texts.Select(t => JsonSerializer.Serialize(t)), new UTF8Encoding(false));
            string driver = Path.Combine(AppContext.BaseDirectory, "References", "reference-family-tokenizer.cjs");
            var psi = new ProcessStartInfo("node", [driver, ReferenceFiles.Path("node-references")!, models, input, output])
            {
                RedirectStandardError = true,
            };
            using var process = Process.Start(psi)!;
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"node reference failed: {stderr}");
            var options = new JsonSerializerOptions { PropertyNameCaseInsensitive = true };
            return File.ReadAllLines(output).Select(l => JsonSerializer.Deserialize<Reference>(l, options)!).ToArray();
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}

/// <summary>A family tokenizer saved by Substrate's writer loads back the same: normalizer and Split sequence kept.</summary>
public class FamilyTokenizerSaveTests
{
    [SkippableTheory]
    [InlineData("qwen3")]
    [InlineData("deepseek_v3")]
    public void Saved_and_reloaded_it_encodes_the_same(string family)
    {
        Skip.If(ReferenceFiles.Directory is null, ReferenceFiles.Reason);
        var original = (ByteLevelBpeTokenizer)TokenizerLoader.Load(ReferenceFiles.Path($"lenml-tokenizer-{family}-3.7.2", "models")!);
        string dir = Directory.CreateTempSubdirectory("substrate-family-save-").FullName;
        try
        {
            original.Save(dir);
            var reloaded = (ByteLevelBpeTokenizer)TokenizerLoader.Load(dir);
            Assert.Equal(original.Options.PrePatterns, reloaded.Options.PrePatterns);
            Assert.Equal(original.Options.Normalization, reloaded.Options.Normalization);
            foreach (var text in TestStrings.Hard.Concat(PropertyCorpus.Generated(300, [])))
                Assert.Equal(original.Encode(text), reloaded.Encode(text));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
