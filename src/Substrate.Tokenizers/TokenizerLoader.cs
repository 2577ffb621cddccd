using Substrate.Tokenizers.Formats;

namespace Substrate.Tokenizers;

/// <summary>
/// One entry point for the tokenizers in use today: a Hugging Face <c>tokenizer.json</c> (byte-level
/// or SentencePiece-style BPE), a folder holding one (its <c>tokenizer_config.json</c> supplies
/// BOS/EOS/PAD names), or a tiktoken <c>*.tiktoken</c> rank file.
/// Missing paths → FileNotFoundException; malformed or unsupported files → InvalidDataException
/// with the path and the reason.
/// </summary>
public static class TokenizerLoader
{
    public static ITokenizer Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            string json = Path.Combine(path, "tokenizer.json");
            if (File.Exists(json)) return LoadTokenizerJson(json);
            var tiktoken = Directory.GetFiles(path, "*.tiktoken");
            if (tiktoken.Length == 1) return TiktokenFile.Load(tiktoken[0]);
            throw new FileNotFoundException($"no tokenizer.json (or single *.tiktoken file) in directory {path}", json);
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer not found: {path}", path);
        if (path.EndsWith(".tiktoken", StringComparison.OrdinalIgnoreCase)) return TiktokenFile.Load(path);
        return LoadTokenizerJson(path);
    }

    /// <summary>Reads tokenizer_config.json from a folder or from beside a tokenizer.json; Empty when there is none.</summary>
    public static TokenizerConfig LoadConfig(string path)
    {
        string dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        string config = Path.Combine(dir, "tokenizer_config.json");
        return File.Exists(config) ? TokenizerConfig.Read(config) : TokenizerConfig.Empty;
    }

    private static ITokenizer LoadTokenizerJson(string path) => HfTokenizerJsonReader.Read(path, LoadConfig(path));
}
