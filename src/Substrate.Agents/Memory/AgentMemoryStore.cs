using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.AI;
using Substrate.Retrieval.Store;

namespace Substrate.Agents.Memory;

/// <summary>
/// An agent's memory in one SQLite file (default <see cref="DefaultPath"/>): named conversations (<c>--session name</c>),
/// one row per chat message as M.E.AI serializes it (tool calls and results included), and long-term facts with their
/// embeddings (float32 blobs). Every write is one transaction, so a killed run leaves the last complete turn.
/// </summary>
public sealed class AgentMemoryStore : IDisposable
{
    readonly SqliteConnection connection;
    SqliteTransaction? transaction; // the open one: Microsoft.Data.Sqlite wants every command inside it to name it

    AgentMemoryStore(SqliteConnection connection, string path)
    {
        this.connection = connection;
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary><c>~/.local/share/substrate/agents.db</c> (the user's local application data, as the server's data folder).</summary>
    public static string DefaultPath => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "substrate", "agents.db");

    /// <summary>Opens (creating if need be) the memory file; a file that is not SQLite is an error naming it.</summary>
    public static AgentMemoryStore Open(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        return SqliteFile.Open(path, SqliteOpenMode.ReadWriteCreate, c => new AgentMemoryStore(c, path),
            store => store.Execute(Schema), "an agent memory file");
    }

    const string Schema = """
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = FULL;
        CREATE TABLE IF NOT EXISTS messages(
            session TEXT NOT NULL, ordinal INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (session, ordinal));
        CREATE TABLE IF NOT EXISTS facts(id INTEGER PRIMARY KEY, text TEXT NOT NULL, vector BLOB NOT NULL, created TEXT NOT NULL);
        """;

    /// <summary>The conversation named <paramref name="session"/>, oldest message first (empty for a new name).</summary>
    public List<ChatMessage> LoadMessages(string session)
    {
        using var command = Command("SELECT message FROM messages WHERE session = $s ORDER BY ordinal", ("$s", session));
        using var reader = command.ExecuteReader();
        var messages = new List<ChatMessage>();
        while (reader.Read())
            messages.Add(JsonSerializer.Deserialize<ChatMessage>(reader.GetString(0), AIJsonUtilities.DefaultOptions)
                ?? throw new InvalidDataException($"{FilePath}: session '{session}' holds an empty message"));
        return messages;
    }

    /// <summary>Appends <paramref name="messages"/> to the conversation, all or none (one transaction).</summary>
    public void AppendMessages(string session, IEnumerable<ChatMessage> messages)
    {
        transaction = connection.BeginTransaction();
        try
        {
            var next = Convert.ToInt64(Scalar("SELECT coalesce(max(ordinal) + 1, 0) FROM messages WHERE session = $s", ("$s", session)));
            foreach (var message in messages)
            {
                var json = JsonSerializer.Serialize(message, AIJsonUtilities.DefaultOptions);
                using var insert = Command("INSERT INTO messages(session, ordinal, message) VALUES ($s, $o, $m)",
                    ("$s", session), ("$o", next++), ("$m", json));
                insert.ExecuteNonQuery();
            }
            transaction.Commit();
        }
        finally
        {
            transaction.Dispose(); // rolls back what was not committed
            transaction = null;
        }
    }

    /// <summary>The names of the stored conversations with their message counts.</summary>
    public List<(string Name, long Messages)> Sessions()
    {
        using var command = Command("SELECT session, count(*) FROM messages GROUP BY session ORDER BY session");
        using var reader = command.ExecuteReader();
        var sessions = new List<(string, long)>();
        while (reader.Read()) sessions.Add((reader.GetString(0), reader.GetInt64(1)));
        return sessions;
    }

    /// <summary>Stores one fact with its embedding (<paramref name="vector"/>, any length, the same for every fact).</summary>
    public long AddFact(string text, ReadOnlySpan<float> vector, DateTimeOffset created)
    {
        using var insert = Command("INSERT INTO facts(text, vector, created) VALUES ($t, $v, $c) RETURNING id",
            ("$t", text), ("$v", MemoryMarshal.AsBytes(vector).ToArray()), ("$c", created.ToString("O")));
        return Convert.ToInt64(insert.ExecuteScalar());
    }

    /// <summary>Every fact with its vector (a memory is small: recall scans them all).</summary>
    public List<(long Id, string Text, float[] Vector)> Facts()
    {
        using var command = Command("SELECT id, text, vector FROM facts ORDER BY id");
        using var reader = command.ExecuteReader();
        var facts = new List<(long, string, float[])>();
        while (reader.Read())
            facts.Add((reader.GetInt64(0), reader.GetString(1), MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(2)).ToArray()));
        return facts;
    }

    SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    object? Scalar(string sql, params (string, object)[] parameters)
    {
        using var command = Command(sql, parameters);
        return command.ExecuteScalar();
    }

    void Execute(string sql)
    {
        using var command = Command(sql);
        command.ExecuteNonQuery();
    }

    public void Dispose() => connection.Dispose();
}
