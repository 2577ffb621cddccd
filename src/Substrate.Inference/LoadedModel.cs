using Substrate.Models;
using Substrate.Tokenizers;

namespace Substrate.Inference;

/// <summary>A model folder opened for inference: the weights and the tokenizer beside them.</summary>
public sealed class LoadedModel(LlamaForCausalLM model, ITokenizer tokenizer, TokenizerConfig tokenizerConfig, string directory) : IDisposable
{
    public LlamaForCausalLM Model => model;
    public ITokenizer Tokenizer => tokenizer;
    public TokenizerConfig TokenizerConfig => tokenizerConfig;
    public string Directory => directory;

    /// <summary>Opens a Hugging Face Llama folder (config.json, safetensors, tokenizer.json) for inference: the weights keep
    /// their stored dtype and are mapped from the files, not copied (<see cref="ModelFolder.LoadForInference"/>). With
    /// <paramref name="adapterDirectory"/>, a PEFT LoRA adapter is loaded on top and always applied (fp32 weights, copied).</summary>
    public static LoadedModel Load(string directory, ModelOptions? options = null, string? adapterDirectory = null)
    {
        if (adapterDirectory is not null) return LoadWithAdapter(directory, options, adapterDirectory);
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"model folder not found: {directory}");
        if (!File.Exists(Path.Combine(directory, "tokenizer.json")))
            throw new FileNotFoundException($"{directory} has no tokenizer.json; a model folder needs its tokenizer");
        var tokenizer = TokenizerLoader.Load(directory);
        var model = ModelFolder.LoadForInference(directory, options);
        if (model.Config.VocabSize < tokenizer.VocabSize)
        {
            model.Dispose();
            throw new InvalidDataException(
                $"{directory}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {model.Config.VocabSize}");
        }
        model.eval();
        return new LoadedModel(model, tokenizer, TokenizerLoader.LoadConfig(directory), directory);
    }

    private static LoadedModel LoadWithAdapter(string directory, ModelOptions? options, string adapterDirectory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"model folder not found: {directory}");
        var tokenizer = TokenizerLoader.Load(directory);
        var lora = Substrate.Models.Lora.LoraModel.Load(directory, options);
        try
        {
            lora.LoadAdapter("default", adapterDirectory);
        }
        catch
        {
            lora.Dispose();
            throw;
        }
        lora.Router.Default = new Substrate.Nn.LoraSelection("default");
        lora.Model.eval();
        return new LoadedModel(lora.Model, tokenizer, TokenizerLoader.LoadConfig(directory), directory);
    }

    public Generator CreateGenerator() => new(model, tokenizer);

    public void Dispose() => model.Dispose();
}
