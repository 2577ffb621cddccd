using Microsoft.Data.Sqlite;

namespace Substrate.Retrieval.Store;

/// <summary>Opening a SQLite file a user named: one that is not SQLite (or lacks what <paramref name="prepare"/> reads or
/// creates) is an <see cref="InvalidDataException"/> naming the file, not a raw <see cref="SqliteException"/>.</summary>
public static class SqliteFile
{
    public static T Open<T>(string path, SqliteOpenMode mode, Func<SqliteConnection, T> wrap, Action<T> prepare, string what)
        where T : IDisposable
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path, Mode = mode, Pooling = false,
        }.ToString());
        var opened = wrap(connection);
        try
        {
            connection.Open();
            prepare(opened);
            return opened;
        }
        catch (SqliteException e)
        {
            opened.Dispose();
            throw new InvalidDataException($"{path} is not {what}: {e.Message}", e);
        }
    }
}
