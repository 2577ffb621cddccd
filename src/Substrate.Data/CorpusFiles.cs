namespace Substrate.Data;

/// <summary>
/// The corpus files behind input paths, and which of them hold validation text. Corpus files are
/// <c>.jsonl</c> / <c>.txt</c> and their <c>.gz</c> (read by <c>TextSources</c>); a directory
/// stands for its corpus files, recursively, in ordinal path order.
/// </summary>
public static class CorpusFiles
{
    static readonly string[] Extensions = [".jsonl", ".jsonl.gz", ".txt", ".txt.gz"];

    /// <summary>The corpus files of the given files and directories, in a stable order.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(IsCorpusFile).Order(StringComparer.Ordinal));
            else if (File.Exists(path))
                files.Add(path);
            else
                throw new FileNotFoundException($"input '{path}' does not exist", path);
        }
        return files;
    }

    public static bool IsCorpusFile(string path) =>
        Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>True for files whose name says they hold validation text (validation*, valid*, val.*).</summary>
    public static bool IsValidationFile(string path)
    {
        var name = Path.GetFileName(path).ToLowerInvariant();
        return name.StartsWith("validation") || name.StartsWith("valid") || name.StartsWith("val.");
    }
}
