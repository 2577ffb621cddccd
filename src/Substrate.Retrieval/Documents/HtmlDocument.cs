using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace Substrate.Retrieval.Documents;

/// <summary>HTML through AngleSharp: h1–h6 give positions; the innermost text blocks (p, li, pre, td, …) give text;
/// script, style and the head are not text. A page without such blocks is its body's text.</summary>
internal static class HtmlDocument
{
    const string Blocks = "h1,h2,h3,h4,h5,h6,p,li,pre,blockquote,td,th,dt,dd,figcaption";

    public static List<DocumentSection> Read(string html)
    {
        var document = new HtmlParser().ParseDocument(html);
        foreach (var element in document.QuerySelectorAll("script,style,noscript,template").ToList()) element.Remove();
        var builder = new SectionBuilder();
        var body = document.Body ?? document.DocumentElement;
        var blocks = body.QuerySelectorAll(Blocks).Where(e => e.QuerySelector(Blocks) is null).ToList();
        if (blocks.Count == 0) builder.Paragraph(SectionBuilder.Normalize(body.TextContent));
        foreach (var element in blocks)
        {
            if (element.LocalName is ['h', >= '1' and <= '6']) builder.Heading(element.LocalName[1] - '0', element.TextContent);
            else builder.Paragraph(element.LocalName == "pre" ? element.TextContent : SectionBuilder.Normalize(element.TextContent));
        }
        return builder.Build();
    }
}
