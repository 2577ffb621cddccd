using System.Text.Json;
using System.Text.RegularExpressions;
using Substrate.Server.Wire;

namespace Substrate.Server.Storage;

/// <summary>
/// Records kept as folders, <c>root/&lt;id&gt;/record.json</c> beside whatever else the record holds. A folder is written
/// under a hidden temporary name (files flushed to disk) and renamed into place, so a crash leaves the whole record or
/// none of it; a deletion renames the folder away before removing it. Hidden folders left by a crash are removed when the
/// folders are opened. Ids are checked before they touch a path, so an id cannot name a folder outside the root.
/// </summary>
internal sealed partial class RecordFolders<T> where T : class
{
    private readonly string root;

    public RecordFolders(string root)
    {
        this.root = root;
        Directory.CreateDirectory(root);
        foreach (var leftover in Directory.EnumerateDirectories(root, ".*")) Directory.Delete(leftover, recursive: true);
    }

    public string FolderOf(string id) => Path.Combine(root, id);

    /// <summary>Writes a record: <paramref name="fill"/> writes its other files into the (temporary) folder it is given
    /// and returns the record, which is written last.</summary>
    public async Task<T> CreateAsync(string id, Func<string, Task<T>> fill)
    {
        var temp = Path.Combine(root, $".new-{id}");
        Directory.CreateDirectory(temp);
        try
        {
            var record = await fill(temp);
            await using (var file = new FileStream(Path.Combine(temp, "record.json"), FileMode.CreateNew))
            {
                await JsonSerializer.SerializeAsync(file, record, WireJson.Options);
                file.Flush(flushToDisk: true);
            }
            Directory.Move(temp, FolderOf(id));
            return record;
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>The record, or null when there is none (or the id is not one this store could have made).</summary>
    public T? Get(string id)
    {
        if (!IdPattern().IsMatch(id)) return null;
        var path = Path.Combine(FolderOf(id), "record.json");
        try { return JsonSerializer.Deserialize<T>(File.ReadAllBytes(path), WireJson.Options); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }

    /// <summary>Every record, in no particular order.</summary>
    public List<T> All() => Directory.EnumerateDirectories(root).Select(Path.GetFileName).Where(n => !n!.StartsWith('.'))
        .Select(n => Get(n!)).OfType<T>().ToList();

    /// <summary>Removes the record's folder; false when there was none.</summary>
    public bool Delete(string id)
    {
        if (!IdPattern().IsMatch(id)) return false;
        var trash = Path.Combine(root, $".deleted-{id}-{Guid.NewGuid():N}");
        try { Directory.Move(FolderOf(id), trash); }
        catch (DirectoryNotFoundException) { return false; }
        Directory.Delete(trash, recursive: true);
        return true;
    }

    /// <summary>A new id: the prefix and 24 random hex digits (OpenAI's ids look so: file-…, vs_…).</summary>
    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex IdPattern();
}
