using System.Text;

namespace Substrate.Agents.Tools;

/// <summary>
/// read_file and list_files confined to one folder. A path is relative to the folder; an absolute path, a path that
/// leaves it (<c>..</c>) and a path through a symbolic link that points out of it are refused with
/// <see cref="UnauthorizedAccessException"/>. Links are resolved one path component at a time, targets included, so a link to a folder
/// outside, or a link inside such a folder, is caught wherever it stands in the path.
/// </summary>
public sealed class FolderTools
{
    public const int DefaultMaxReadBytes = 64 * 1024;
    const int MaxListed = 500;
    const int MaxLinkHops = 40; // as Linux's ELOOP

    readonly string root;     // the folder as given, made absolute
    readonly string realRoot; // the folder with every link along its path resolved
    readonly int maxReadBytes;

    public FolderTools(string folder, int maxReadBytes = DefaultMaxReadBytes)
    {
        root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"tool folder not found: {folder}");
        realRoot = RealPath(root);
        this.maxReadBytes = maxReadBytes;
    }

    public string Folder => root;

    /// <summary>Tests only: called between the path check and the open (to swap the file there).</summary>
    internal Action<string>? BeforeOpen { get; set; }

    /// <summary>The text of a file in the folder (UTF-8), its first <c>maxReadBytes</c> bytes with a note when longer.</summary>
    public string ReadFile(string path)
    {
        var full = Resolve(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"no file '{path}' in the folder");
        BeforeOpen?.Invoke(full);
        using var stream = ConfinedFile.OpenRead(full, realRoot, path);
        var buffer = new byte[(int)Math.Min(stream.Length, maxReadBytes)];
        stream.ReadExactly(buffer);
        var text = Encoding.UTF8.GetString(buffer);
        return stream.Length > maxReadBytes ? text + $"\n[truncated: the file has {stream.Length:N0} bytes, the first {maxReadBytes:N0} are shown]" : text;
    }

    /// <summary>The entries of a folder inside the folder, one a line: "name/" for folders, "name (N bytes)" for files.</summary>
    public string ListFiles(string path = ".")
    {
        var full = Resolve(path);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"no folder '{path}' in the folder");
        var entries = new DirectoryInfo(full).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        var lines = entries.Take(MaxListed).Select(e => e is DirectoryInfo ? e.Name + "/" : $"{e.Name} ({((FileInfo)e).Length} bytes)");
        var text = string.Join('\n', lines);
        if (entries.Count == 0) return "(empty)";
        return entries.Count > MaxListed ? text + $"\n[{entries.Count - MaxListed} more entries not listed]" : text;
    }

    /// <summary>The real path of <paramref name="path"/> inside the folder; refuses every way out.</summary>
    public string Resolve(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) path = ".";
        if (Path.IsPathRooted(path)) throw new UnauthorizedAccessException($"'{path}' is absolute: give a path relative to the folder");
        var full = Path.GetFullPath(Path.Combine(root, path));
        if (!IsInside(full, root)) throw new UnauthorizedAccessException($"'{path}' is outside the folder");
        var real = RealPath(Path.Combine(realRoot, Path.GetRelativePath(root, full)));
        if (!IsInside(real, realRoot)) throw new UnauthorizedAccessException($"'{path}' leads outside the folder (through a link)");
        return real;
    }

    /// <summary>
    /// <paramref name="path"/> with every link along it resolved, as realpath(3): a link's target is itself walked from the
    /// file system's root, so a link whose target passes through another link (to a folder outside) is followed too. A
    /// missing tail stays as given.
    /// </summary>
    static string RealPath(string path, int hops = 0)
    {
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        var parts = full[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops) throw new IOException($"more than {MaxLinkHops} links in the path");
            var rest = string.Join(Path.DirectorySeparatorChar, parts[(i + 1)..]);
            return RealPath(Path.Combine(Path.GetFullPath(target, current), rest), hops);
        }
        return Path.TrimEndingDirectorySeparator(current);
    }

    internal static bool IsInside(string path, string folder) =>
        path == folder || path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
