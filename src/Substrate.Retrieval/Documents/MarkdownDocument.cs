using System.Text;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Substrate.Retrieval.Documents;

/// <summary>Markdown through Markdig: headings give positions; paragraphs, list items, quotes and code blocks give text.</summary>
internal static class MarkdownDocument
{
    public static List<DocumentSection> Read(string markdown)
    {
        var builder = new SectionBuilder();
        foreach (var block in Markdown.Parse(markdown).Descendants<LeafBlock>())
        {
            if (block is HeadingBlock heading) builder.Heading(heading.Level, InlineText(heading.Inline));
            else if (block is CodeBlock code) builder.Paragraph(code.Lines.ToString());
            else if (block.Inline is { } inline) builder.Paragraph(InlineText(inline));
        }
        return builder.Build();
    }

    static string InlineText(ContainerInline? container)
    {
        var text = new StringBuilder();
        if (container is null) return "";
        foreach (var inline in container.Descendants())
        {
            switch (inline)
            {
                case LiteralInline literal: text.Append(literal.Content.ToString()); break;
                case CodeInline code: text.Append(code.Content); break;
                case LineBreakInline: text.Append(' '); break;
            }
        }
        return text.ToString();
    }
}
