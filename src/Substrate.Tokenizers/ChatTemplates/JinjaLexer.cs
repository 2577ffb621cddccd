using System.Text;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>Template pieces: literal text, <c>{{ expr }}</c> outputs and <c>{% stmt %}</c> tags (comments dropped).</summary>
internal abstract record Piece;
internal sealed record TextPiece(string Text) : Piece;
internal sealed record OutputPiece(List<Token> Tokens) : Piece;
internal sealed record TagPiece(List<Token> Tokens) : Piece;

internal enum TokenKind { Name, String, Integer, Float, Operator, End }
internal sealed record Token(TokenKind Kind, string Text);

/// <summary>
/// Splits a template into pieces with Jinja's whitespace rules as transformers configures them
/// (<c>trim_blocks</c>: the newline after a tag is dropped; <c>lstrip_blocks</c>: spaces before a tag on its
/// line are dropped) and the <c>{%- -%}</c> / <c>{{- -}}</c> markers, then tokenizes expressions.
/// </summary>
internal static class JinjaLexer
{
    public static List<Piece> Split(string source)
    {
        var pieces = new List<Piece>();
        int i = 0;
        bool trimNextLeading = false, dropNextNewline = false;
        while (i < source.Length)
        {
            int open = NextOpen(source, i);
            string text = open < 0 ? source[i..] : source[i..open];
            if (trimNextLeading) text = text.TrimStart();
            else if (dropNextNewline) text = text.StartsWith("\r\n") ? text[2..] : text.StartsWith('\n') ? text[1..] : text;
            trimNextLeading = dropNextNewline = false;
            if (open < 0) { if (text.Length > 0) pieces.Add(new TextPiece(text)); break; }

            char kind = source[open + 1]; // '{', '%' or '#'
            string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
            int bodyStart = open + 2;
            bool trimLeft = bodyStart < source.Length && source[bodyStart] == '-';
            bool keepLeft = bodyStart < source.Length && source[bodyStart] == '+';
            if (trimLeft || keepLeft) bodyStart++;
            int closeAt = source.IndexOf(close, bodyStart, StringComparison.Ordinal);
            if (closeAt < 0) throw new FormatException($"chat template: unclosed '{{{kind}' at offset {open}");
            bool trimRight = closeAt > bodyStart && source[closeAt - 1] == '-';
            string body = source[bodyStart..(trimRight ? closeAt - 1 : closeAt)];

            if (trimLeft) text = text.TrimEnd();
            else if (kind != '{' && !keepLeft) text = LstripBlock(text);
            if (text.Length > 0) pieces.Add(new TextPiece(text));

            if (kind == '{') pieces.Add(new OutputPiece(Tokenize(body)));
            else if (kind == '%') pieces.Add(new TagPiece(Tokenize(body)));
            trimNextLeading = trimRight;
            dropNextNewline = kind != '{';
            i = closeAt + 2;
        }
        return pieces;
    }

    private static int NextOpen(string s, int from)
    {
        for (int j = s.IndexOf('{', from); j >= 0 && j + 1 < s.Length; j = s.IndexOf('{', j + 1))
            if (s[j + 1] is '{' or '%' or '#') return j;
        return -1;
    }

    /// <summary>lstrip_blocks: spaces and tabs between the last newline and a block tag go.</summary>
    private static string LstripBlock(string text)
    {
        int end = text.Length;
        while (end > 0 && text[end - 1] is ' ' or '\t') end--;
        return end == 0 || text[end - 1] == '\n' ? text[..end] : text;
    }

    private static readonly string[] Operators =
    [
        "==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|", "=",
    ];

    public static List<Token> Tokenize(string body)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < body.Length)
        {
            char c = body[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < body.Length && (char.IsLetterOrDigit(body[i]) || body[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Name, body[start..i]));
            }
            else if (char.IsDigit(c))
            {
                int start = i;
                while (i < body.Length && char.IsDigit(body[i])) i++;
                bool isFloat = i + 1 < body.Length && body[i] == '.' && char.IsDigit(body[i + 1]);
                if (isFloat) { i++; while (i < body.Length && char.IsDigit(body[i])) i++; }
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, body[start..i]));
            }
            else if (c is '\'' or '"')
            {
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= body.Length) throw new FormatException($"chat template: unterminated string in '{body.Trim()}'");
                    char d = body[i++];
                    if (d == c) break;
                    if (d != '\\' || i >= body.Length) { sb.Append(d); continue; }
                    char e = body[i++];
                    sb.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '\\' => '\\', '\'' => '\'', '"' => '"', _ => e });
                }
                tokens.Add(new Token(TokenKind.String, sb.ToString()));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(body, i, o, 0, o.Length) == 0)
                    ?? throw new FormatException($"chat template: unexpected '{c}' in '{body.Trim()}'");
                tokens.Add(new Token(TokenKind.Operator, op));
                i += op.Length;
            }
        }
        tokens.Add(new Token(TokenKind.End, ""));
        return tokens;
    }
}
