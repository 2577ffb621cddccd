using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>
/// JSON ↔ template values: a JSON document becomes the renderer's plain values (objects keep their key order), and
/// <c>tojson</c> writes values back the way @huggingface/jinja does (Python's <c>json.dumps</c> spacing:
/// <c>", "</c> and <c>": "</c>, or <c>","</c> with an indent; non-ASCII as itself unless ensure_ascii).
/// </summary>
internal static class JinjaValues
{
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new Dictionary<string, object?>(),
            (d, p) => { d[p.Name] = FromJson(p.Value); return d; }),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    public static string ToJson(object? value, int? indent = null, bool ensureAscii = false, bool sortKeys = false)
    {
        var sb = new StringBuilder();
        Write(sb, value, indent, ensureAscii, sortKeys, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value, int? indent, bool ensureAscii, bool sortKeys, int depth)
    {
        string itemSeparator = indent is > 0 ? "," : ", ";
        string pad = indent is > 0 ? "\n" + new string(' ', indent.Value * (depth + 1)) : "";
        string endPad = indent is > 0 ? "\n" + new string(' ', indent.Value * depth) : "";
        switch (value)
        {
            case null or Undefined: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(d.ToString("R", CultureInfo.InvariantCulture)); break;
            case string s: WriteString(sb, s, ensureAscii); break;
            case List<object?> list:
                if (list.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    sb.Append(i > 0 ? itemSeparator : "").Append(pad);
                    Write(sb, list[i], indent, ensureAscii, sortKeys, depth + 1);
                }
                sb.Append(endPad).Append(']');
                break;
            case Dictionary<string, object?> dict:
                if (dict.Count == 0) { sb.Append("{}"); break; }
                sb.Append('{');
                var entries = sortKeys ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList() : dict.ToList();
                for (int i = 0; i < entries.Count; i++)
                {
                    sb.Append(i > 0 ? itemSeparator : "").Append(pad);
                    WriteString(sb, entries[i].Key, ensureAscii);
                    sb.Append(": ");
                    Write(sb, entries[i].Value, indent, ensureAscii, sortKeys, depth + 1);
                }
                sb.Append(endPad).Append('}');
                break;
            default: WriteString(sb, JinjaRenderer.Str(value), ensureAscii); break;
        }
    }

    // JSON.stringify's escaping: quote, backslash, the short escapes, other controls as \u00XX, lone surrogates as \uDXXX.
    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    bool lone = char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                        && !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(s[i - 1]));
                    if (c < 0x20 || lone || (ensureAscii && c > 0x7e)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
