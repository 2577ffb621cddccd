using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Tokenizers;
using static TorchSharp.torch;

namespace Substrate.Inference;

/// <summary>
/// One base model, many LoRA adapters, in one process: the base folder is loaded once, each adapter (a PEFT
/// folder) is loaded once by name, and every call names the adapter it wants (null = the base). Adapters are
/// applied on top of the shared frozen base linears as x·Aᵀ·Bᵀ·scale; a batch may mix adapters row by row.
/// Calls may interleave (e.g. two streams read alternately): the selection is set around each forward pass.
/// </summary>
public sealed class MultiAdapterModel : IDisposable
{
    private readonly LoraModel lora;
    private readonly Generator generator;

    private MultiAdapterModel(LoraModel lora, ITokenizer tokenizer, TokenizerConfig tokenizerConfig, string directory)
    {
        this.lora = lora;
        Tokenizer = tokenizer;
        TokenizerConfig = tokenizerConfig;
        Directory = directory;
        generator = new Generator(lora.Model, tokenizer);
    }

    public LlamaForCausalLM Model => lora.Model;
    public ITokenizer Tokenizer { get; }
    public TokenizerConfig TokenizerConfig { get; }
    public string Directory { get; }

    /// <summary>Names of the loaded adapters.</summary>
    public IReadOnlyCollection<string> AdapterNames => lora.Adapters.Keys.ToList();

    /// <summary>The adapter configs by name (rank, alpha, targets, base).</summary>
    public IReadOnlyDictionary<string, LoraAdapterConfig> Adapters => lora.Adapters;

    /// <summary>Opens a base model folder (config.json, safetensors, tokenizer.json) for adapters.</summary>
    public static MultiAdapterModel Load(string directory, ModelOptions? options = null)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"model folder not found: {directory}");
        var tokenizer = TokenizerLoader.Load(directory);
        var lora = LoraModel.Load(directory, options);
        lora.Model.eval();
        return new MultiAdapterModel(lora, tokenizer, TokenizerLoader.LoadConfig(directory), directory);
    }

    /// <summary>For tests and embedding: wraps an already built LoRA model.</summary>
    public static MultiAdapterModel From(LoraModel lora, ITokenizer tokenizer, TokenizerConfig? tokenizerConfig = null) =>
        new(lora, tokenizer, tokenizerConfig ?? TokenizerConfig.Empty, lora.BaseDirectory ?? "");

    /// <summary>Loads (or replaces) the adapter <paramref name="name"/> from a PEFT folder; the base is not reloaded.</summary>
    public LoraAdapterConfig LoadAdapter(string name, string adapterDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return lora.LoadAdapter(name, adapterDirectory);
    }

    public bool UnloadAdapter(string name) => lora.RemoveAdapter(name);

    /// <summary>Logits (B, T, V) of <paramref name="inputIds"/> (B, T) with one adapter (null = the base).</summary>
    public Tensor Forward(Tensor inputIds, string? adapterName)
    {
        using var use = Use(adapterName);
        return lora.Model.forward(inputIds);
    }

    /// <summary>Logits (B, T, V) with adapter <c>rowAdapters[b]</c> (null = the base) on row b.</summary>
    public Tensor Forward(Tensor inputIds, string?[] rowAdapters)
    {
        foreach (var name in rowAdapters) Check(name);
        using var use = lora.Router.UseRows(rowAdapters);
        return lora.Model.forward(inputIds);
    }

    /// <summary>Selects an adapter for every forward pass on this async flow until disposed.</summary>
    public IDisposable Use(string? adapterName)
    {
        Check(adapterName);
        return lora.Router.Use(adapterName);
    }

    /// <summary>Selects adapter <c>rowAdapters[b]</c> (null = the base) for batch row b of every forward pass on this
    /// async flow until disposed (batched decode across requests on different adapters).</summary>
    public IDisposable UseRows(string?[] rowAdapters)
    {
        foreach (var name in rowAdapters) Check(name);
        return lora.Router.UseRows(rowAdapters);
    }

    /// <summary>Streams the continuation of <paramref name="prompt"/> through <see cref="Generator"/> with the named adapter.</summary>
    public IEnumerable<string> Stream(string prompt, GenerationOptions options, string? adapterName, GenerationStats? stats = null)
    {
        Check(adapterName);
        IEnumerable<string> inner;
        using (lora.Router.Use(adapterName)) inner = generator.Stream(prompt, options, stats); // validates eagerly
        return Selected(inner, adapterName);
    }

    /// <summary>Streams the continuation of encoded prompt ids with the named adapter.</summary>
    public IEnumerable<string> Stream(IReadOnlyList<int> promptIds, GenerationOptions options, string? adapterName, GenerationStats? stats = null)
    {
        Check(adapterName);
        IEnumerable<string> inner;
        using (lora.Router.Use(adapterName)) inner = generator.Stream(promptIds, options, stats);
        return Selected(inner, adapterName);
    }

    public string Generate(string prompt, GenerationOptions options, string? adapterName) => string.Concat(Stream(prompt, options, adapterName));

    /// <summary>Keeps the adapter selected exactly while the inner stream computes (each MoveNext), so streams interleave safely.</summary>
    private IEnumerable<T> Selected<T>(IEnumerable<T> inner, string? adapterName)
    {
        using var e = inner.GetEnumerator();
        while (true)
        {
            using (lora.Router.Use(adapterName))
                if (!e.MoveNext()) yield break;
            yield return e.Current;
        }
    }

    private void Check(string? name)
    {
        if (name is not null && !lora.Adapters.ContainsKey(name))
            throw new ArgumentException(
                $"no adapter named '{name}' is loaded (loaded: {(lora.Adapters.Count == 0 ? "none" : string.Join(", ", lora.Adapters.Keys))})");
    }

    public void Dispose() => lora.Dispose();
}
