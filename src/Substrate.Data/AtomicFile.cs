namespace Substrate.Data;

/// <summary>Writes a file under a temporary name and renames it into place, so a reader sees the old file or the new one, never half of one.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    public static void Copy(string source, string destination)
    {
        var temp = destination + ".tmp";
        File.Copy(source, temp, overwrite: true);
        File.Move(temp, destination, overwrite: true);
    }
}
