using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;

namespace Substrate.Retrieval.Documents;

/// <summary>Word .docx through the Open XML SDK: paragraphs styled Heading1…Heading9 (or Title) give positions; the
/// other paragraphs, table cells included, give text.</summary>
internal static class DocxDocument
{
    public static List<DocumentSection> Read(string path)
    {
        using var document = WordprocessingDocument.Open(path, isEditable: false);
        var body = document.MainDocumentPart?.Document?.Body ?? throw new InvalidDataException($"{path}: no document body");
        var builder = new SectionBuilder();
        foreach (var paragraph in body.Descendants<Paragraph>())
        {
            var style = paragraph.ParagraphProperties?.ParagraphStyleId?.Val?.Value ?? "";
            var text = string.Concat(paragraph.Descendants<Text>().Select(t => t.Text));
            if (HeadingLevel(style) is int level) builder.Heading(level, text);
            else builder.Paragraph(text);
        }
        return builder.Build();
    }

    static int? HeadingLevel(string style) =>
        style.Equals("Title", StringComparison.OrdinalIgnoreCase) ? 1
        : style.StartsWith("Heading", StringComparison.OrdinalIgnoreCase) && int.TryParse(style.AsSpan(7), out var level) ? level
        : null;
}
