using Microsoft.ML.Tokenizers;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Tests.References;

namespace Substrate.Tokenizers.Tests;

/// <summary>tiktoken rank files (from gpt-tokenizer) against Microsoft.ML.Tokenizers' bundled data and its own regexes.</summary>
public class TiktokenReferenceTests
{
    [SkippableTheory]
    [InlineData("r50k_base")]
    [InlineData("cl100k_base")]
    public void Ids_match_MicrosoftMLTokenizers(string encoding)
    {
        Skip.If(ReferenceFiles.Directory is null, ReferenceFiles.Reason);
        var ours = TiktokenFile.Load(ReferenceFiles.Path("gpt-tokenizer-4.0.0", "data", encoding + ".tiktoken")!);
        var reference = TiktokenTokenizer.CreateForEncoding(encoding);
        foreach (var text in TestStrings.Hard.Where(s => !s.Contains("<|")))
        {
            var expected = reference.EncodeToIds(text).ToArray();
            Assert.True(expected.SequenceEqual(ours.Encode(text)), $"{encoding} differs on {System.Text.Json.JsonSerializer.Serialize(text)}");
        }
    }

    [SkippableTheory]
    [InlineData("r50k")]
    [InlineData("cl100k")]
    [InlineData("o200k")]
    public void Ids_match_gpt_tokenizer(string encoding)
    {
        Skip.If(NodeReference.Unavailable is not null, NodeReference.Unavailable);
        var ours = TiktokenFile.Load(ReferenceFiles.Path("gpt-tokenizer-4.0.0", "data", encoding + "_base.tiktoken")!);
        var expected = NodeReference.Encode(encoding, TestStrings.Hard);
        for (int i = 0; i < TestStrings.Hard.Length; i++)
            Assert.True(expected[i].SequenceEqual(ours.Encode(TestStrings.Hard[i])), $"{encoding} differs on {System.Text.Json.JsonSerializer.Serialize(TestStrings.Hard[i])}: expected [{string.Join(",", expected[i])}] got [{string.Join(",", ours.Encode(TestStrings.Hard[i]))}]");
    }
}
