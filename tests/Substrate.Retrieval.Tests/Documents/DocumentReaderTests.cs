using Substrate.Retrieval.Documents;

namespace Substrate.Retrieval.Tests.Documents;

public class DocumentReaderTests
{
    static List<(string Text, string Position)> Read(TempFolder folder, string name) =>
        DocumentReader.Read(folder.File(name)).Select(s => (s.Text, s.Position)).ToList();

    [Fact]
    public void EachFormatReadsIntoSectionsWithPositions()
    {
        using var folder = new TempFolder();
        SampleDocuments.WriteAll(folder);
        Assert.Equal([("The lighthouse keeper counts ships.\n\nHe writes their names in a ledger.", "")], Read(folder, "notes.txt"));
        Assert.Equal([("Install the ferry timetable.", "Setup"), ("Run make ferry.", "Setup > Linux"), ("Ask the harbour master.", "Usage")],
            Read(folder, "guide.md"));
        Assert.Equal([("The tide rises twice a day.\n\nSpring tides are high.", "Tides"), ("The moon pulls the sea.", "Tides > Moon")],
            Read(folder, "page.html"));
        Assert.Equal([("A gannet dives for fish.", "line 1"), ("A puffin nests in burrows.", "line 3")], Read(folder, "records.jsonl"));
        Assert.Equal([("Page one speaks of anchors.", "page 1"), ("Page two speaks of sails.", "page 2")], Read(folder, "report.pdf"));
        Assert.Equal([("Boats rest in the harbour.", "Harbour"), ("Mooring costs ten coins.", "Harbour > Fees")], Read(folder, "letter.docx"));
    }

    [Fact]
    public void FoldersExpandToDocumentsInOrdinalOrder()
    {
        using var folder = new TempFolder();
        SampleDocuments.WriteAll(folder);
        folder.Write("skip.bin", "x");
        var names = DocumentReader.Expand([folder.Path]).Select(Path.GetFileName).ToList();
        Assert.Equal(["guide.md", "letter.docx", "notes.txt", "page.html", "records.jsonl", "report.pdf"], names);
        Assert.Throws<InvalidDataException>(() => DocumentReader.Expand([folder.File("skip.bin")]));
        Assert.Throws<FileNotFoundException>(() => DocumentReader.Expand([folder.File("missing.txt")]));
    }

    [Fact]
    public void AnUnreadableFileIsOneErrorNamingIt()
    {
        using var folder = new TempFolder();
        var pdf = folder.Write("broken.pdf", "not a pdf at all");
        var e = Assert.Throws<InvalidDataException>(() => DocumentReader.Read(pdf));
        Assert.StartsWith(pdf + ": cannot read:", e.Message);
        var jsonl = folder.Write("bad.jsonl", "{\"title\": 1}\n");
        Assert.Equal(jsonl + ":1: JSON line has no string \"text\" field", Assert.Throws<InvalidDataException>(() => DocumentReader.Read(jsonl)).Message);
    }
}
