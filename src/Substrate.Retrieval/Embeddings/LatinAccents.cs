namespace Substrate.Retrieval.Embeddings;

/// <summary>
/// BERT's "strip accents" for Latin letters: what NFD followed by dropping non-spacing marks does to U+00C0–U+017F
/// (é → e, ł stays). Done by table because with invariant globalization (this repository's setting) .NET's
/// string.Normalize leaves non-ASCII text as it is, and "café" would be [UNK] where Hugging Face's uncased BertTokenizer
/// reads "cafe". The table was generated from Python's unicodedata.
/// </summary>
public static class LatinAccents
{
    const string Accented =
        "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊ"
        + "ċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚś"
        + "ŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽž";
    const string Plain =
        "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcC"
        + "cCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSs"
        + "SsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZz";

    public static string Strip(string text)
    {
        int first = text.AsSpan().IndexOfAnyInRange('\u00C0', '\u017F');
        if (first < 0) return text;
        var chars = text.ToCharArray();
        for (int i = first; i < chars.Length; i++)
            if (chars[i] is >= '\u00C0' and <= '\u017F' && Accented.IndexOf(chars[i]) is var at and >= 0) chars[i] = Plain[at];
        return new string(chars);
    }
}
