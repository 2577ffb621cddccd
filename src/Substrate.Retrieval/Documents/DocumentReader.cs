using System.Text.Json;
using Substrate.IO;

namespace Substrate.Retrieval.Documents;

/// <summary>
/// The one rule for which files are documents and how each is read into sections: .txt (and .txt.gz), .md (Markdig),
/// .html/.htm (AngleSharp), .pdf (PdfPig), .docx (Open XML) and .jsonl (and .jsonl.gz; each line's "text" field).
/// A folder stands for its documents, recursively, in ordinal path order.
/// </summary>
public static class DocumentReader
{
    public static readonly IReadOnlyList<string> Extensions =
        [".txt", ".txt.gz", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl", ".jsonl.gz"];

    public static bool IsDocument(string path) => Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>The documents of the given files and folders, full paths, in a stable order; a missing path or a file of
    /// another type is an error here, before anything is read.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(IsDocument)
                    .Select(Path.GetFullPath).Order(StringComparer.Ordinal));
            else if (!File.Exists(path))
                throw new FileNotFoundException($"input not found: {path}", path);
            else if (!IsDocument(path))
                throw new InvalidDataException($"{path}: unsupported file type (expected {string.Join(", ", Extensions)})");
            else
                files.Add(Path.GetFullPath(path));
        }
        return files.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>The sections of one document; an unreadable file throws an exception naming it.</summary>
    public static IReadOnlyList<DocumentSection> Read(string path)
    {
        var name = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        var extension = Path.GetExtension(name).ToLowerInvariant();
        try
        {
            return extension switch
            {
                ".txt" => [new DocumentSection(ReadText(path), "")],
                ".md" or ".markdown" => MarkdownDocument.Read(File.ReadAllText(path)),
                ".html" or ".htm" => HtmlDocument.Read(File.ReadAllText(path)),
                ".pdf" => PdfDocument.Read(path),
                ".docx" => DocxDocument.Read(path),
                ".jsonl" => ReadJsonLines(path),
                _ => throw new InvalidDataException($"{path}: unsupported file type"),
            };
        }
        // Every failure becomes one InvalidDataException that names the file (the readers' own messages mostly do not).
        catch (Exception e) when (e is not InvalidDataException and not IOException || !e.Message.Contains(path))
        {
            throw new InvalidDataException($"{path}: cannot read: {e.Message}", e);
        }
    }

    static string ReadText(string path)
    {
        using var reader = JsonLines.OpenText(path);
        return JsonLines.ReadToEnd(reader, path);
    }

    static List<DocumentSection> ReadJsonLines(string path)
    {
        var sections = new List<DocumentSection>();
        foreach (var (record, source) in JsonLines.Read(path, allowEmpty: true))
        {
            if (record.ValueKind != JsonValueKind.Object || !record.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{source}: JSON line has no string \"text\" field");
            sections.Add(new DocumentSection(text.GetString()!, "line " + source[(source.LastIndexOf(':') + 1)..]));
        }
        return sections;
    }
}
