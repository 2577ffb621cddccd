namespace Substrate.Server.Storage;

/// <summary>An uploaded file: its owner is the SHA-256 of the API key that uploaded it (never the key); the bytes are
/// <see cref="ContentName"/> in the record's folder, named with the upload's extension so the document reader knows
/// its type.</summary>
internal sealed record StoredFile(string Id, string Owner, string Filename, long Bytes, long CreatedAt, string Purpose, string ContentName);

/// <summary>A vector store: one Retrieval <c>ChunkStore</c> (<c>store.db</c> in its folder) whose documents are file ids.</summary>
internal sealed record StoredVectorStore(string Id, string Owner, string? Name, long CreatedAt);
