namespace Substrate.Retrieval.Store;

/// <summary>
/// FTS5's bm25 (fts5_aux.c, fts5Bm25Function) with its constants and its float order, so a score computed here equals the
/// one FTS5 returns for the same row: idf = ln((N − n + ½)/(n + ½)), 1e-6 when ≤ 0; a phrase adds
/// idf × (f × (k1 + 1)) / (f + k1 × (1 − b + b × D / avgdl)), summed in the query's phrase order; D is the row's tokens,
/// avgdl the store's tokens over its rows (both as FTS5 records them).
/// </summary>
internal static class Bm25Scoring
{
    public const double K1 = 1.2, B = 0.75;

    public static double Idf(long rows, long hits)
    {
        double idf = Math.Log((rows - hits + 0.5) / (hits + 0.5));
        return idf <= 0.0 ? 1e-6 : idf;
    }

    /// <summary>What one phrase adds to a row's score.</summary>
    public static double Term(double idf, double frequency, double length, double averageLength) =>
        idf * (frequency * (K1 + 1.0) / (frequency + K1 * (1 - B + B * length / averageLength)));

    /// <summary>The most a posting with frequency ≤ <paramref name="maxFrequency"/> and length ≥ <paramref name="minLength"/>
    /// can add (the term grows with the frequency and falls with the length), a hair above for float rounding.</summary>
    public static double Bound(double idf, int maxFrequency, int minLength, double averageLength) =>
        Term(idf, maxFrequency, minLength, averageLength) * (1 + 1e-9);

    /// <summary>The most a phrase can add to any row: idf × (k1 + 1), the limit as the frequency grows.</summary>
    public static double Bound(double idf) => idf * (K1 + 1) * (1 + 1e-9);

    /// <summary>SQLite's varint (as FTS5 writes its records): big-endian 7-bit groups, the ninth byte whole.</summary>
    public static long ReadSqliteVarint(ReadOnlySpan<byte> bytes, ref int at)
    {
        ulong value = 0;
        for (int i = 0; i < 8; i++)
        {
            byte b = bytes[at++];
            value = (value << 7) | (uint)(b & 0x7F);
            if (b < 0x80) return (long)value;
        }
        return (long)((value << 8) | bytes[at++]);
    }
}
