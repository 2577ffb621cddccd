namespace Substrate.Retrieval.Chunking;

/// <summary>One chunk of a document: its text, where it stands (page or heading path), and its token count.</summary>
public sealed record TextChunk(string Text, string Position, int Tokens);
