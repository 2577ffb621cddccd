using System.IO.Compression;
using System.Text;

namespace Substrate.Tokenizers.Tests;

public class TextSourcesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("substrate-text-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string relative, string content, bool gzip = false)
    {
        string path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = Encoding.UTF8.GetBytes(content);
        using var file = File.Create(path);
        using Stream stream = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        stream.Write(bytes);
        return path;
    }

    [Fact]
    public void Reads_txt_jsonl_and_gz_recursively_in_path_order()
    {
        Write("a.txt", "plain text\nsecond line");
        Write("b/c.jsonl", "{\"source\":\"s\",\"id\":1,\"text\":\"one\"}\n\n{\"text\":\"two\\u00e9\"}\n");
        Write("b/d.jsonl.gz", "{\"text\":\"zipped\"}\n", gzip: true);
        Write("b/e.txt.gz", "zipped text", gzip: true);
        Write("ignored.bin", "xx");
        var docs = TextSources.ReadDocuments([_dir]).ToList();
        Assert.Equal(["plain text\nsecond line", "one", "twoé", "zipped", "zipped text"], docs);
    }

    [Fact]
    public void Missing_path_fails_before_streaming()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TextSources.ReadDocuments([Path.Combine(_dir, "missing.txt")]));
        Assert.Contains("missing.txt", e.Message);
    }

    [Fact]
    public void Bad_jsonl_line_names_file_and_line()
    {
        string path = Write("x.jsonl", "{\"text\":\"ok\"}\n{\"title\":\"no text\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => TextSources.ReadDocuments([path]).ToList());
        Assert.Contains(path + ":2", e.Message);
    }
}
