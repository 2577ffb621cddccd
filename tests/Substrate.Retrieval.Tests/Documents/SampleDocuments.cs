using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Substrate.Retrieval.Tests.Documents;

/// <summary>Writes one small document of each supported type: .docx through Open XML, .pdf through PdfPig's builder.</summary>
public static class SampleDocuments
{
    public static void WriteAll(TempFolder folder)
    {
        folder.Write("notes.txt", "The lighthouse keeper counts ships.\n\nHe writes their names in a ledger.");
        folder.Write("guide.md", "# Setup\n\nInstall the *ferry* timetable.\n\n## Linux\n\n- Run `make ferry`.\n\n# Usage\n\nAsk the harbour master.");
        folder.Write("page.html", "<html><head><title>t</title><style>p{}</style></head><body><h1>Tides</h1><p>The tide\n rises twice a day.</p>"
            + "<script>var x = 1;</script><ul><li>Spring tides are high.</li></ul><h2>Moon</h2><p>The moon pulls the sea.</p></body></html>");
        folder.Write("records.jsonl", "{\"text\": \"A gannet dives for fish.\"}\n\n{\"text\": \"A puffin nests in burrows.\"}\n");
        WritePdf(folder.File("report.pdf"), ["Page one speaks of anchors.", "Page two speaks of sails."]);
        WriteDocx(folder.File("letter.docx"), [("Heading1", "Harbour"), ("", "Boats rest in the harbour."), ("Heading2", "Fees"), ("", "Mooring costs ten coins.")]);
    }

    public static void WritePdf(string path, IReadOnlyList<string> pages)
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        foreach (var text in pages) builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4).AddText(text, 12, new PdfPoint(25, 700), font);
        File.WriteAllBytes(path, builder.Build());
    }

    public static void WriteDocx(string path, IReadOnlyList<(string Style, string Text)> paragraphs)
    {
        using var document = WordprocessingDocument.Create(path, WordprocessingDocumentType.Document);
        var body = new Body();
        foreach (var (style, text) in paragraphs)
        {
            var paragraph = new Paragraph(new Run(new Text(text)));
            if (style.Length > 0) paragraph.PrependChild(new ParagraphProperties(new ParagraphStyleId { Val = style }));
            body.AppendChild(paragraph);
        }
        document.AddMainDocumentPart().Document = new Document(body);
    }
}
