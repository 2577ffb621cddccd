using System.Text;

namespace Substrate.Agents.Mcp;

/// <summary>Splits a command line into words as a POSIX shell would for the simple cases: spaces separate words,
/// single and double quotes group them, a backslash escapes the next character. No expansion of any kind.</summary>
public static class CommandWords
{
    public static IReadOnlyList<string> Split(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        char quote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else if (c == '\\' && quote == '"' && i + 1 < line.Length) word.Append(line[++i]);
                else word.Append(c);
            }
            else if (c is '\'' or '"') { quote = c; inWord = true; }
            else if (c == '\\' && i + 1 < line.Length) { word.Append(line[++i]); inWord = true; }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
            }
            else { word.Append(c); inWord = true; }
        }
        if (quote != '\0') throw new ArgumentException($"unclosed quote in '{line}'");
        if (inWord) words.Add(word.ToString());
        return words;
    }
}
