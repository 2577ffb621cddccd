namespace Substrate.Retrieval.Store;

/// <summary>Row-level access for connectors (<see cref="ChunkCollection"/>): one chunk at a time, each write its own transaction.</summary>
public sealed partial class ChunkStore
{
    /// <summary>Inserts a chunk, or replaces the one with its id; id 0 takes a new id. Returns the id.</summary>
    public long UpsertChunk(StoredChunk chunk, ReadOnlyMemory<float>? vector)
    {
        if (vector is { } v) CheckDimensions(v.Length);
        using var scope = Begin();
        using var command = Command("""
            INSERT INTO chunks(id, path, ordinal, position, text, hash, vector) VALUES ($id, $p, $o, $pos, $t, $h, $v)
            ON CONFLICT(id) DO UPDATE SET path = $p, ordinal = $o, position = $pos, text = $t, hash = $h, vector = $v
            RETURNING id
            """);
        Bind(command, ("$id", chunk.Id == 0 ? DBNull.Value : chunk.Id), ("$p", chunk.Path), ("$o", chunk.Ordinal), ("$pos", chunk.Position),
            ("$t", chunk.Text), ("$h", chunk.Hash.Length > 0 ? chunk.Hash : Sha256(chunk.Text)), ("$v", vector is { } x ? ToBlob(x.Span) : DBNull.Value));
        long id = Convert.ToInt64(command.ExecuteScalar());
        scope.Commit();
        Written([id]);
        if (vector is { } added) VectorsAdded([id], chunk.Path, [added]);
        return id;
    }

    /// <summary>A vector's size must be the store's; the first vectors of a store whose embedder was never named record it
    /// as "external".</summary>
    void CheckDimensions(int dimensions)
    {
        if (Embedding is null) UseEmbedding("external", dimensions);
        else if (Embedding.Value.Dimensions != dimensions)
            throw new ArgumentException($"vector has {dimensions} dimensions, {FilePath} holds {Embedding.Value.Dimensions}");
    }

    public void DeleteChunk(long id)
    {
        using var scope = Begin();
        using var command = Command("DELETE FROM chunks WHERE id = $id");
        Bind(command, ("$id", id));
        command.ExecuteNonQuery();
        scope.Commit();
        Written([id]);
    }

    /// <summary>Every chunk and document gone; the embedding model forgotten.</summary>
    public void Clear()
    {
        using var scope = Begin();
        using var command = Command("DELETE FROM chunks; DELETE FROM documents; DELETE FROM meta;");
        command.ExecuteNonQuery();
        scope.Commit();
        vectors = null;
        bm25?.Invalidate();
    }

    /// <summary>A chunk's vector, or null when it has none (or there is no such chunk).</summary>
    public float[]? GetVector(long id)
    {
        using var command = Command("SELECT vector FROM chunks WHERE id = $id");
        Bind(command, ("$id", id));
        return command.ExecuteScalar() is byte[] blob ? FromBlob(blob) : null;
    }

    /// <summary>Every chunk, in id order.</summary>
    public IEnumerable<StoredChunk> AllChunks()
    {
        using var command = Command("SELECT id, path, ordinal, position, text, hash FROM chunks ORDER BY id");
        using var reader = command.ExecuteReader();
        while (reader.Read()) yield return ReadChunk(reader);
    }
}
