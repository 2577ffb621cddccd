using System.Globalization;
using System.Text;

namespace Substrate.Tokenizers;

/// <summary>Applies a chain of <see cref="DecoderStep"/>s the way HF tokenizers' decode_chain does.</summary>
internal static class SentencePieceDecoding
{
    public static string Run(IReadOnlyList<DecoderStep> steps, List<string> tokens)
    {
        foreach (var step in steps)
        {
            tokens = step switch
            {
                DecoderStep.Replace r => tokens.Select(t => t.Replace(r.Pattern, r.Content, StringComparison.Ordinal)).ToList(),
                DecoderStep.ByteFallback => FuseBytes(tokens),
                DecoderStep.Fuse => [string.Concat(tokens)],
                DecoderStep.Strip s => tokens.Select(t => Strip(t, s)).ToList(),
                DecoderStep.Metaspace m => tokens.Select((t, i) =>
                {
                    t = t.Replace(m.Replacement, ' ');
                    return i == 0 && m.PrependScheme != "never" && t.StartsWith(' ') ? t[1..] : t;
                }).ToList(),
                _ => throw new NotSupportedException($"decoder step {step.GetType().Name}"),
            };
        }
        return string.Concat(tokens);
    }

    /// <summary>The byte of a "&lt;0xNN&gt;" token.</summary>
    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static List<string> FuseBytes(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var t in tokens)
        {
            if (TryParseByteToken(t, out byte b)) { pending.Add(b); continue; }
            Flush();
            result.Add(t);
        }
        Flush();
        return result;

        void Flush()
        {
            if (pending.Count == 0) return;
            var bytes = pending.ToArray();
            pending.Clear();
            try
            {
                result.Add(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes));
            }
            catch (DecoderFallbackException)
            {
                result.Add(new string('\uFFFD', bytes.Length));
            }
        }
    }

    private static string Strip(string token, DecoderStep.Strip s)
    {
        int start = 0, end = token.Length;
        while (start < s.Start && start < end && token[start] == s.Content) start++;
        int stripped = 0;
        while (stripped < s.Stop && end > start && token[end - 1] == s.Content) { end--; stripped++; }
        return token[start..end];
    }
}
