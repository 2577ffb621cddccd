using System.IO.Compression;
using System.Text.Json;

namespace Substrate.Data.Tests;

static class CorpusWriter
{
    public static void WriteJsonlGz(string path, IEnumerable<string> texts)
    {
        using var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        using var writer = new StreamWriter(gz);
        int i = 0;
        foreach (var text in texts)
            writer.WriteLine(JsonSerializer.Serialize(new { source = "test", id = (i++).ToString(), text }));
    }

    public static string[] Documents(int count) =>
        Enumerable.Range(0, count).Select(i => $"document {i}: " + new string((char)('a' + i % 26), 5 + i % 17)).ToArray();

    /// <summary>The ids the byte tokenizer gives a document sequence: bytes, then EOS after each.</summary>
    public static long[] Expected(IEnumerable<string> texts, int eos = 256) =>
        texts.SelectMany(t => System.Text.Encoding.UTF8.GetBytes(t).Select(b => (long)b).Append(eos)).ToArray();
}
