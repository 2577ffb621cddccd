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

    private GgufGenerator(CpuDecoder decoder, ITokenizer tokenizer)
    {
        this.decoder = decoder;
        Tokenizer = tokenizer;
        Generator = new Generator(new TokenGenerator(decoder), tokenizer);
    }

    public Generator Generator { get; }
    public ITokenizer Tokenizer { get; }

    public static GgufGenerator Open(string path, int? context = null, int? threads = null)
    {
        using var reader = new GgufReader(path); // read once: the tokenizer, the config and the tensors' places
        var tokenizer = ReadTokenizer(reader);
        var maxPositions = GgufImporter.ReadConfig(reader).MaxPositionEmbeddings;
        var decoder = GgufCpuDecoder.Open(reader, Math.Min(maxPositions, context ?? DefaultContext), threads);
        if (decoder.Config.VocabSize < tokenizer.VocabSize)
        {
            decoder.Dispose();
            throw new InvalidDataException($"{path}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {decoder.Config.VocabSize}");
        }
        return new GgufGenerator(decoder, tokenizer);
    }

    /// <summary>The file's <c>tokenizer.ggml.*</c> as a tokenizer, through the importer's tokenizer.json (one reader of those keys).</summary>
    private static ITokenizer ReadTokenizer(GgufReader reader)
    {
        var folder = Directory.CreateTempSubdirectory("substrate-gguf-tokenizer-");
        try
        {
            if (!GgufTokenizerImporter.WriteFolder(reader, folder.FullName))
                throw new InvalidDataException($"{reader.Path} carries no tokenizer (tokenizer.ggml.model); generate needs one");
            return TokenizerLoader.Load(folder.FullName);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    public void Dispose() => decoder.Dispose();
}
