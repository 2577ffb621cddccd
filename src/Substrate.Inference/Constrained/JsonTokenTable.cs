using Substrate.Tokenizers;

namespace Substrate.Inference.Constrained;

/// <summary>
/// The vocabulary as a character trie, built once per tokenizer: constrained decoding walks it with the JSON state,
/// so a prefix that is already invalid rules out every token that starts with it in one step. Tokens that decode
/// to nothing (special tokens) or to part of a UTF-8 character are left out.
/// </summary>
public sealed class JsonTokenTable
{
    internal sealed class Node
    {
        public readonly Dictionary<char, Node> Children = [];
        public readonly List<int> Ids = [];
    }

    internal Node Root { get; } = new();
    internal string[] Texts { get; }

    public JsonTokenTable(ITokenizer tokenizer, int vocabSize)
    {
        Texts = new string[vocabSize];
        for (var id = 0; id < Math.Min(vocabSize, tokenizer.VocabSize); id++)
        {
            var text = tokenizer.Decode([id], skipSpecialTokens: true);
            if (text.Length == 0 || text.Contains('\uFFFD')) { Texts[id] = ""; continue; }
            Texts[id] = text;
            var node = Root;
            foreach (var c in text)
            {
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            node.Ids.Add(id);
        }
        for (var id = tokenizer.VocabSize; id < vocabSize; id++) Texts[id] = "";
    }
}
