using System.Text;
using System.Text.RegularExpressions;

namespace Substrate.Agents.Evaluation;

/// <summary>How an answer is compared with the expected one: exact after normalisation.</summary>
public static partial class AgentAnswer
{
    /// <summary>Lower case, white space collapsed, surrounding quotes and a final full stop removed, and thousands
    /// separators dropped from numbers ("173,412." → "173412").</summary>
    public static string Normalize(string answer)
    {
        var text = Whitespace().Replace(answer.Trim(), " ").ToLowerInvariant();
        for (var before = ""; before != text;) (before, text) = (text, Thousands().Replace(text, "$1$2")); // 1,234,567: two passes
        text = text.Trim('"', '\'', '“', '”', ' ');
        if (text.EndsWith('.')) text = text[..^1].TrimEnd();
        return text.Normalize(NormalizationForm.FormC);
    }

    public static bool Matches(string answer, string expected) => Normalize(answer) == Normalize(expected);

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"(\d),(\d{3})\b")]
    private static partial Regex Thousands();
}
