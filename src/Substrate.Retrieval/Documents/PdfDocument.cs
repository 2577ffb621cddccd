using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;

namespace Substrate.Retrieval.Documents;

/// <summary>PDF through PdfPig: one section per page ("page N"), its text in content order.</summary>
internal static class PdfDocument
{
    public static List<DocumentSection> Read(string path)
    {
        using var pdf = UglyToad.PdfPig.PdfDocument.Open(path);
        var sections = new List<DocumentSection>();
        foreach (var page in pdf.GetPages())
        {
            var text = ContentOrderTextExtractor.GetText(page).Trim();
            if (text.Length > 0) sections.Add(new DocumentSection(text, $"page {page.Number}"));
        }
        return sections;
    }
}
