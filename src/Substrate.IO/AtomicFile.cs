using System.Text;

namespace Substrate.IO;

/// <summary>
/// Writes a file under a temporary name in the same folder, then renames it over the target, so a
/// reader (or a run killed mid-write) sees the old file or the new one, never half of one. Lives in the
/// dependency-free root assembly so every project writes files the same way.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var temp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));

    public static void Copy(string source, string destination) =>
        Write(destination, s => { using var from = File.OpenRead(source); from.CopyTo(s); });
}
