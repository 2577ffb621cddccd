namespace Substrate.Tokenizers;

/// <summary>
/// A token matched whole in the text before pre-tokenization (HF <c>added_tokens</c>).
/// <see cref="Special"/> tokens (BOS, EOS, chat markers) are only recognised when encoding with
/// <c>addSpecialTokens</c>; the others always are, as in Hugging Face tokenizers.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Special = true, bool Normalized = false);
