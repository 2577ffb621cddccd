using Microsoft.Extensions.VectorData;

namespace Substrate.Retrieval.Store;

/// <summary>A chunk as Microsoft.Extensions.VectorData sees it (<see cref="ChunkCollection"/>). The vector's declared size is
/// MiniLM's; the store itself holds whatever size its first vector had.</summary>
public sealed class ChunkRecord
{
    [VectorStoreKey]
    public long Id { get; set; }

    [VectorStoreData(IsIndexed = true)]
    public string Path { get; set; } = "";

    [VectorStoreData]
    public int Ordinal { get; set; }

    [VectorStoreData]
    public string Position { get; set; } = "";

    [VectorStoreData(IsFullTextIndexed = true)]
    public string Text { get; set; } = "";

    [VectorStoreData]
    public string Hash { get; set; } = "";

    [VectorStoreVector(384, DistanceFunction = DistanceFunction.CosineSimilarity, IndexKind = IndexKind.Flat)]
    public ReadOnlyMemory<float>? Vector { get; set; }

    internal static ChunkRecord From(StoredChunk c, float[]? vector) => new()
    {
        Id = c.Id, Path = c.Path, Ordinal = c.Ordinal, Position = c.Position, Text = c.Text, Hash = c.Hash, Vector = vector,
    };

    internal StoredChunk ToStored() => new(Id, Path, Ordinal, Position, Text, Hash);
}
