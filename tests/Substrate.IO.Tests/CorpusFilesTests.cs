using System.IO.Compression;
using System.Text;

namespace Substrate.IO.Tests;

public class CorpusFilesTests : IDisposable
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
        var docs = CorpusFiles.ReadDocuments([_dir]).ToList();
        Assert.Equal(["plain text\nsecond line", "one", "twoé", "zipped", "zipped text"], docs);
    }

    [Fact]
    public void Missing_path_fails_before_streaming()
    {
        var e = Assert.Throws<FileNotFoundException>(() => CorpusFiles.ReadDocuments([Path.Combine(_dir, "missing.txt")]));
        Assert.Contains("missing.txt", e.Message);
    }

    [Fact]
    public void Bad_jsonl_line_names_file_and_line()
    {
        string path = Write("x.jsonl", "{\"text\":\"ok\"}\n{\"title\":\"no text\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => CorpusFiles.ReadDocuments([path]).ToList());
        Assert.Contains(path + ":2", e.Message);
    }

    [Fact]
    public void A_file_named_on_its_own_must_be_a_corpus_file()
    {
        var path = Write("notes.md", "# not a corpus file");
        var e = Assert.Throws<InvalidDataException>(() => CorpusFiles.Expand([path]));
        Assert.Contains("notes.md", e.Message);
    }

    [Fact]
    public void Validation_files_are_told_by_name()
    {
        Assert.True(CorpusFiles.IsValidationFile("/x/validation.jsonl.gz"));
        Assert.True(CorpusFiles.IsValidationFile("val.txt"));
        Assert.False(CorpusFiles.IsValidationFile("/val/train.jsonl"));
    }

    [Fact]
    public void Json_lines_name_the_bad_line_and_refuse_an_empty_file()
    {
        var bad = Write("bad.jsonl", "{\"a\":1}\n{oops\n");
        var e = Assert.Throws<InvalidDataException>(() => JsonLines.Read(bad).ToList());
        Assert.Contains(bad + ":2", e.Message);
        var empty = Write("empty.jsonl.gz", "\n\n", gzip: true);
        Assert.Throws<InvalidDataException>(() => JsonLines.Read(empty).ToList());
        Assert.Empty(JsonLines.Read(empty, allowEmpty: true));
    }
}
