namespace Substrate.Tokenizers.Bpe;

/// <summary>
/// GPT-2's reversible byte ↔ character mapping (<c>bytes_to_unicode</c>): every byte gets a
/// printable character, so a token made of arbitrary bytes is still a readable JSON string
/// (space → 'Ġ', newline → 'Ċ'). Byte-level vocabularies (GPT-2, Llama 3, tiktoken ranks once
/// converted) key their tokens by these characters.
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToCharTable = BuildByteToChar();
    private static readonly byte[] CharToByteTable = BuildCharToByte(ByteToCharTable);

    /// <summary>The character standing for byte <paramref name="b"/>.</summary>
    public static char ToChar(byte b) => ByteToCharTable[b];

    /// <summary>True and the byte when <paramref name="c"/> is one of the 256 alphabet characters.</summary>
    public static bool TryToByte(char c, out byte b)
    {
        if (c < CharToByteTable.Length && (c == ByteToCharTable[0] || CharToByteTable[c] != 0))
        {
            b = CharToByteTable[c];
            return true;
        }
        b = 0;
        return false;
    }

    /// <summary>Maps bytes to alphabet characters; <paramref name="chars"/> must be at least as long.</summary>
    public static void ToChars(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToCharTable[bytes[i]];
    }

    /// <summary>The alphabet string of some bytes.</summary>
    public static string ToString(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (span, b) => ToChars(b, span));
    }

    /// <summary>The bytes of an alphabet string, or null when it holds a character outside the alphabet.</summary>
    public static byte[]? ToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!TryToByte(token[i], out bytes[i])) return null;
        }
        return bytes;
    }

    private static char[] BuildByteToChar()
    {
        // Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 upwards, in byte order.
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    private static byte[] BuildCharToByte(char[] byteToChar)
    {
        var table = new byte[byteToChar.Max() + 1];
        for (int b = 0; b < 256; b++) table[byteToChar[b]] = (byte)b;
        return table;
    }
}
