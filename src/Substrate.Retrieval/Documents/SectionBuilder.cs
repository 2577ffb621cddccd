namespace Substrate.Retrieval.Documents;

/// <summary>Collects paragraphs under a heading path: a heading closes the section before it and opens its own.
/// Shared by the formats that have headings (Markdown, HTML, .docx).</summary>
internal sealed class SectionBuilder
{
    private readonly List<DocumentSection> sections = [];
    private readonly List<string> headings = [];
    private readonly List<string> paragraphs = [];

    /// <summary>A heading of <paramref name="level"/> (1 = top) replaces the headings at its level and below.</summary>
    public void Heading(int level, string text)
    {
        Flush();
        level = Math.Max(1, level);
        while (headings.Count >= level) headings.RemoveAt(headings.Count - 1);
        headings.Add(Normalize(text));
    }

    public void Paragraph(string text)
    {
        text = text.Trim();
        if (text.Length > 0) paragraphs.Add(text);
    }

    public List<DocumentSection> Build()
    {
        Flush();
        return sections;
    }

    void Flush()
    {
        if (paragraphs.Count > 0) sections.Add(new DocumentSection(string.Join("\n\n", paragraphs), string.Join(" > ", headings)));
        paragraphs.Clear();
    }

    /// <summary>Runs of white space as one space.</summary>
    public static string Normalize(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
