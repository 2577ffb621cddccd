using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Substrate.Retrieval.Store;

/// <summary>
/// One SQLite file holding documents (path → content hash), their chunks (text, position, hash, embedding as a float32
/// blob) and an FTS5 index over the chunk text, kept in step by triggers. Every change to one document is one
/// transaction, so a crash leaves the last committed state: a document is either wholly indexed (its hash recorded
/// with all its chunks) or not at all. The embedding model and its dimensions are recorded once; a store refuses
/// vectors of another size.
/// </summary>
public sealed partial class ChunkStore : IDisposable
{
    private readonly SqliteConnection connection;
    private VectorIndex? vectors;
    private Bm25TopK? bm25;
    private Bm25Postings? postings;
    private long seenDataVersion = -1;
    private SqliteTransaction? transaction;

    private ChunkStore(SqliteConnection connection, string path)
    {
        this.connection = connection;
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary>Tests only: called after each chunk row a document write inserts, inside its transaction (to fail there).</summary>
    internal Action<int>? ChunkWritten { get; set; }

    /// <summary>Opens (creating if need be) the store at <paramref name="path"/>; a file that is not a chunk store is an
    /// error naming it.</summary>
    public static ChunkStore Open(string path, bool create = true)
    {
        if (!create && !File.Exists(path)) throw new FileNotFoundException($"store not found: {path}", path);
        return SqliteFile.Open(path, create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            c => new ChunkStore(c, path), store =>
        {
            store.Execute(Schema);
            store.KeepPostingsInStep();
        }, "a chunk store");
    }

    /// <summary>Opens an existing store to read only (a search tool's): a missing file, or one that is not a chunk store
    /// (not SQLite, or without the chunks table), is an error naming the file.</summary>
    public static ChunkStore OpenReadOnly(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"store not found: {path}", path);
        return SqliteFile.Open(path, SqliteOpenMode.ReadOnly, c => new ChunkStore(c, path), store =>
        {
            store.Scalar("SELECT count(*) FROM chunks JOIN documents USING (path) WHERE 0");
            store.Scalar("SELECT count(*) FROM chunks_fts WHERE 0");
            store.postings = new Bm25Postings(store);
        }, "a chunk store");
    }

    const string Schema = """
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = FULL;
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS documents(path TEXT PRIMARY KEY, hash TEXT NOT NULL, chunks INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS chunks(
            id INTEGER PRIMARY KEY, path TEXT NOT NULL, ordinal INTEGER NOT NULL, position TEXT NOT NULL,
            text TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB);
        CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path, ordinal);
        CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='chunks', content_rowid='id', tokenize='porter unicode61');
        CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;
        CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
        CREATE TRIGGER IF NOT EXISTS chunks_au AFTER UPDATE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;
        """ + Bm25Postings.Schema;

    /// <summary>A read-write open builds the BM25 postings of a store that lacks them or was written without them (one
    /// transaction; at 1M chunks, minutes — see README's Retrieval › Scale).</summary>
    void KeepPostingsInStep()
    {
        postings = new Bm25Postings(this);
        if (postings.InStep()) return;
        using var scope = Begin();
        postings.Build();
        scope.Commit();
    }

    /// <summary>The embedding model the vectors were made with, and their size; null before the first vector.</summary>
    public (string Model, int Dimensions)? Embedding =>
        GetMeta("embedding_model") is { } model && GetMeta("embedding_dimensions") is { } dims ? (model, int.Parse(dims)) : null;

    /// <summary>Records the embedding model on first use; a store made with another model or size is an error naming both.</summary>
    public void UseEmbedding(string model, int dimensions)
    {
        if (Embedding is { } existing)
        {
            if (existing.Model != model || existing.Dimensions != dimensions)
                throw new InvalidOperationException(
                    $"{FilePath} holds vectors of {existing.Model} ({existing.Dimensions} dimensions), not {model} ({dimensions}); index into a new store");
            return;
        }
        using var scope = Begin();
        SetMeta("embedding_model", model);
        SetMeta("embedding_dimensions", dimensions.ToString());
        scope.Commit();
    }

    /// <summary>Path → content hash of every indexed document.</summary>
    public Dictionary<string, string> Documents()
    {
        var documents = new Dictionary<string, string>(StringComparer.Ordinal);
        using var command = Command("SELECT path, hash FROM documents");
        using var reader = command.ExecuteReader();
        while (reader.Read()) documents[reader.GetString(0)] = reader.GetString(1);
        return documents;
    }

    public int ChunkCount() => Convert.ToInt32(Scalar("SELECT count(*) FROM chunks"));

    /// <summary>Replaces a document's chunks and records its hash, in one transaction.</summary>
    public void ReplaceDocument(string path, string hash, IReadOnlyList<(string Position, string Text)> chunks,
        IReadOnlyList<ReadOnlyMemory<float>>? vectors)
    {
        if (vectors is not null && vectors.Count != chunks.Count)
            throw new ArgumentException($"{chunks.Count} chunks but {vectors.Count} vectors");
        foreach (var length in vectors?.Select(v => v.Length).Distinct() ?? []) CheckDimensions(length);
        using var scope = Begin();
        var removed = DeleteChunks(path);
        var added = new List<long>(chunks.Count);
        using (var insert = Command("INSERT INTO chunks(path, ordinal, position, text, hash, vector) VALUES ($p, $o, $pos, $t, $h, $v) RETURNING id"))
        {
            for (int i = 0; i < chunks.Count; i++)
            {
                Bind(insert, ("$p", path), ("$o", i), ("$pos", chunks[i].Position), ("$t", chunks[i].Text), ("$h", Sha256(chunks[i].Text)),
                    ("$v", vectors is null ? DBNull.Value : ToBlob(vectors[i].Span)));
                added.Add(Convert.ToInt64(insert.ExecuteScalar()));
                ChunkWritten?.Invoke(i);
            }
        }
        Postings()?.Apply(removed, added.Select((id, i) => (id, chunks[i].Text)).ToList());
        using (var document = Command("INSERT OR REPLACE INTO documents(path, hash, chunks) VALUES ($p, $h, $n)"))
        {
            Bind(document, ("$p", path), ("$h", hash), ("$n", chunks.Count));
            document.ExecuteNonQuery();
        }
        scope.Commit();
        Written(removed.Select(r => r.Id).ToList());
        if (vectors is not null) VectorsAdded(added, path, vectors);
    }

    /// <summary>Drops a document and its chunks, in one transaction.</summary>
    public void RemoveDocument(string path)
    {
        using var scope = Begin();
        var removed = DeleteChunks(path);
        Postings()?.Apply(removed, []);
        using var command = Command("DELETE FROM documents WHERE path = $p");
        Bind(command, ("$p", path));
        command.ExecuteNonQuery();
        scope.Commit();
        Written(removed.Select(r => r.Id).ToList());
    }

    /// <summary>Deletes a document's chunks; returns their ids and texts (the postings drop the texts' terms).</summary>
    List<(long Id, string Text)> DeleteChunks(string path)
    {
        using var command = Command("DELETE FROM chunks WHERE path = $p RETURNING id, text");
        Bind(command, ("$p", path));
        using var reader = command.ExecuteReader();
        var removed = new List<(long, string)>();
        while (reader.Read()) removed.Add((reader.GetInt64(0), reader.GetString(1)));
        return removed;
    }

    /// <summary>The BM25 postings where this connection keeps them (a read-write open); a read-only one uses them while
    /// they are in step with FTS5 and falls back to FTS5's ranking otherwise.</summary>
    internal Bm25Postings? Postings() => postings;

    /// <summary>Whether unfiltered BM25 searches are answered from the store's own postings (they are in step with FTS5's
    /// index); false for a store written without them and opened read-only, which FTS5 then ranks.</summary>
    public bool HasBm25Postings => postings?.InStep() ?? false;

    /// <summary>After a commit: the vector index drops the removed rows (the caller adds new ones), cached BM25 counts go.</summary>
    void Written(IReadOnlyCollection<long> removed)
    {
        vectors?.Remove(removed);
        bm25?.Invalidate();
    }

    /// <summary>After a commit: new rows join a loaded vector index (one of another size, loaded empty, is dropped).</summary>
    void VectorsAdded(IReadOnlyList<long> ids, string path, IReadOnlyList<ReadOnlyMemory<float>> added)
    {
        if (vectors is null || ids.Count == 0) return;
        if (vectors.Dimensions != added[0].Length) vectors = null;
        else vectors.Add(ids, path, added);
    }

    /// <summary>Another connection's commit changes PRAGMA data_version; what was loaded or counted from the file then goes
    /// (this connection's own writes update it in place).</summary>
    void ForgetIfWrittenElsewhere()
    {
        long version = Convert.ToInt64(Scalar("PRAGMA data_version"));
        if (version != seenDataVersion && seenDataVersion != -1)
        {
            vectors = null;
            bm25?.Invalidate();
        }
        seenDataVersion = version;
    }

    /// <summary>The chunks with these ids, in the order asked.</summary>
    public List<StoredChunk> GetChunks(IReadOnlyList<long> ids)
    {
        if (ids.Count == 0) return [];
        var found = new Dictionary<long, StoredChunk>();
        using var command = Command($"SELECT id, path, ordinal, position, text, hash FROM chunks WHERE id IN ({string.Join(',', ids)})");
        using var reader = command.ExecuteReader();
        while (reader.Read()) found[reader.GetInt64(0)] = ReadChunk(reader);
        return ids.Where(found.ContainsKey).Select(id => found[id]).ToList();
    }

    /// <summary>The chunks of one document, in order.</summary>
    public List<StoredChunk> GetDocumentChunks(string path)
    {
        using var command = Command("SELECT id, path, ordinal, position, text, hash FROM chunks WHERE path = $p ORDER BY ordinal");
        Bind(command, ("$p", path));
        using var reader = command.ExecuteReader();
        var chunks = new List<StoredChunk>();
        while (reader.Read()) chunks.Add(ReadChunk(reader));
        return chunks;
    }

    internal static StoredChunk ReadChunk(SqliteDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4), reader.GetString(5));

    /// <summary>The vectors of every chunk that has one, loaded once into one contiguous matrix and kept in step with this
    /// store's writes (reloaded when another connection wrote).</summary>
    public VectorIndex Vectors()
    {
        ForgetIfWrittenElsewhere();
        if (vectors is not null) return vectors;
        int dimensions = Embedding?.Dimensions ?? 0;
        int rows = Convert.ToInt32(Scalar("SELECT count(*) FROM chunks WHERE vector IS NOT NULL"));
        var ids = new long[rows];
        var paths = new string[rows];
        var matrix = new float[(long)rows * dimensions];
        var shared = new Dictionary<string, string>(StringComparer.Ordinal);   // one path string a document, not a chunk
        using var command = Command("SELECT id, path, vector FROM chunks WHERE vector IS NOT NULL ORDER BY id");
        using var reader = command.ExecuteReader();
        for (int row = 0; row < rows && reader.Read(); row++)
        {
            var blob = (byte[])reader.GetValue(2);
            if (blob.Length != dimensions * sizeof(float))
                throw new InvalidDataException($"{FilePath}: chunk {reader.GetInt64(0)} has {blob.Length / 4} dimensions, expected {dimensions}");
            ids[row] = reader.GetInt64(0);
            var path = reader.GetString(1);
            paths[row] = shared.TryGetValue(path, out var known) ? known : shared[path] = path;
            MemoryMarshal.Cast<byte, float>(blob).CopyTo(matrix.AsSpan(row * dimensions, dimensions));
        }
        return vectors = new VectorIndex(ids, paths, matrix, dimensions);
    }

    public static byte[] ToBlob(ReadOnlySpan<float> vector) => MemoryMarshal.AsBytes(vector).ToArray();

    public static float[] FromBlob(byte[] blob) => MemoryMarshal.Cast<byte, float>(blob).ToArray();

    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    internal string? GetMeta(string key)
    {
        using var command = Command("SELECT value FROM meta WHERE key = $k");
        Bind(command, ("$k", key));
        return command.ExecuteScalar() as string;
    }

    internal void SetMeta(string key, string value)
    {
        using var command = Command("INSERT OR REPLACE INTO meta(key, value) VALUES ($k, $v)");
        Bind(command, ("$k", key), ("$v", value));
        command.ExecuteNonQuery();
    }

    internal SqliteCommand Command(string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    /// <summary>A transaction every command made until it ends joins; disposed without <c>Commit</c>, it rolls back.</summary>
    TransactionScope Begin()
    {
        transaction = connection.BeginTransaction();
        return new TransactionScope(this);
    }

    sealed class TransactionScope(ChunkStore store) : IDisposable
    {
        public void Commit() => store.transaction!.Commit();

        public void Dispose()
        {
            store.transaction?.Dispose();
            store.transaction = null;
        }
    }

    internal static void Bind(SqliteCommand command, params (string Name, object Value)[] parameters)
    {
        command.Parameters.Clear();
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
    }

    object? Scalar(string sql)
    {
        using var command = Command(sql);
        return command.ExecuteScalar();
    }

    void Execute(string sql)
    {
        using var command = Command(sql);
        command.ExecuteNonQuery();
    }

    public void Dispose() => connection.Dispose();
}
