using Substrate.Inference;
using Substrate.Inference.CpuDecode;
using Substrate.Tokenizers;

namespace Substrate.Interop.Gguf;

/// <summary>
/// A GGUF file opened for <c>substrate generate</c>: the CPU decoder over the mapped file (<see cref="GgufCpuDecoder"/>:
/// Q8_0, Q4_K and Q6_K blocks multiplied in place) and the tokenizer the file carries, behind the same
/// <see cref="Generator"/> a model folder gets.
/// </summary>
public sealed class GgufGenerator : IDisposable
{
    /// <summary>The context when none is asked for: the file's, at most this (as <c>serve --context</c>), since the
    /// decoder's KV cache is allocated for all of it.</summary>
    public const int DefaultContext = 4096;

    private readonly CpuDecoder decoder;

    private GgufGenerator(CpuDecoder decoder, ITokenizer tokenizer, TokenizerConfig tokenizerConfig)
    {
        this.decoder = decoder;
        Tokenizer = tokenizer;
        TokenizerConfig = tokenizerConfig;
        Generator = new Generator(new TokenGenerator(decoder), tokenizer);
    }

    public Generator Generator { get; }
    public ITokenizer Tokenizer { get; }

    /// <summary>The file's tokenizer settings, its chat template (<c>tokenizer.chat_template</c>) among them.</summary>
    public TokenizerConfig TokenizerConfig { get; }

    /// <summary>The CPU decoder over the file: its Config, and its MaxLength, the context.</summary>
    public CpuDecoder Decoder => decoder;

    public static GgufGenerator Open(string path, int? context = null, int? threads = null)
    {
        using var reader = new GgufReader(path); // read once: the tokenizer, the config and the tensors' places
        var (tokenizer, tokenizerConfig) = ReadTokenizer(reader);
        var maxPositions = GgufImporter.ReadConfig(reader).MaxPositionEmbeddings;
        var decoder = OpenDecoder(reader, tokenizer, Math.Min(maxPositions, context ?? DefaultContext), threads, slots: 1);
        return new GgufGenerator(decoder, tokenizer, tokenizerConfig);
    }

    /// <summary>The decoder over the file, checked against the file's tokenizer.</summary>
    internal static CpuDecoder OpenDecoder(GgufReader reader, ITokenizer tokenizer, int context, int? threads, int slots)
    {
        var decoder = GgufCpuDecoder.Open(reader, context, threads, slots);
        if (decoder.Config.VocabSize >= tokenizer.VocabSize) return decoder;
        decoder.Dispose();
        throw new InvalidDataException(
            $"{reader.Path}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {decoder.Config.VocabSize}");
    }

    /// <summary>The file's <c>tokenizer.ggml.*</c> as a tokenizer and its config (chat template, special tokens), through the
    /// importer's tokenizer.json and tokenizer_config.json (one reader of those keys).</summary>
    internal static (ITokenizer Tokenizer, TokenizerConfig Config) ReadTokenizer(GgufReader reader)
    {
        var folder = Directory.CreateTempSubdirectory("substrate-gguf-tokenizer-");
        try
        {
            if (!GgufTokenizerImporter.WriteFolder(reader, folder.FullName))
                throw new InvalidDataException($"{reader.Path} carries no tokenizer (tokenizer.ggml.model); it is needed to run the file");
            return (TokenizerLoader.Load(folder.FullName), TokenizerLoader.LoadConfig(folder.FullName));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    public void Dispose() => decoder.Dispose();
}
