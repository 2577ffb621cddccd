namespace Substrate.Tokenizers;

/// <summary>
/// A text ↔ token-id mapping. Implementations: byte-level BPE (GPT-2 / Llama 3 family),
/// SentencePiece-style BPE with byte fallback (Llama 2 / Mistral), tiktoken ranks.
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of ids, special tokens included (the model's vocab_size must be at least this).</summary>
    int VocabSize { get; }

    /// <summary>Ids of the special tokens this vocabulary defines (null where it has none).</summary>
    SpecialTokenIds Special { get; }

    /// <summary>Encodes text. Special-token strings inside the text are encoded as plain text
    /// unless <paramref name="addSpecialTokens"/> is set, which also adds the BOS token where the
    /// tokenizer's post-processor would (HF semantics).</summary>
    int[] Encode(string text, bool addSpecialTokens = false);

    /// <summary>Decodes ids back to text; decode(encode(s)) == s for every string.</summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false);

    int? TokenToId(string token);

    string? IdToToken(int id);
}

/// <summary>Special-token ids; null where the vocabulary has no such token.</summary>
public sealed record SpecialTokenIds(int? Bos, int? Eos, int? Pad);
