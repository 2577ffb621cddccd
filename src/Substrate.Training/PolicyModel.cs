using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Nn;
using Substrate.Nn.Quantized;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// The model an adaptation recipe trains, loaded one way for fine-tuning and alignment: LoRA → the frozen base with one
/// adapter (fresh from the seed, or the checkpoint's) routed on by default; full → every weight of the base (or of the
/// checkpoint) trains. Saves its result as a PEFT adapter folder or an HF model folder with the base's tokenizer.
/// </summary>
public sealed class PolicyModel : IDisposable
{
    readonly string baseDirectory, adapterName;

    PolicyModel(LlamaForCausalLM model, LoraModel? lora, string adapterName, string baseDirectory)
    {
        Model = model;
        Lora = lora;
        this.adapterName = adapterName;
        this.baseDirectory = baseDirectory;
        Trainable = lora is not null
            ? lora.AdapterParameters(adapterName).ToList()
            : model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList();
        foreach (var (_, p) in Trainable) p.requires_grad = true;
        TrainableCount = Trainable.Sum(p => p.Parameter.numel());
        // The base's count from its config: a quantized (QLoRA) base holds its projections as blocks, not parameters.
        TotalCount = (lora is null ? model.ParameterCount() : ModelLayout.ParameterCount(model.Config)) + (lora is null ? 0 : TrainableCount);
    }

    public LlamaForCausalLM Model { get; }

    /// <summary>The LoRA wrapper of <see cref="Model"/>; null for full training.</summary>
    public LoraModel? Lora { get; }

    public IReadOnlyList<(string Name, Tensor Parameter)> Trainable { get; }
    public long TrainableCount { get; }
    public long TotalCount { get; }

    /// <summary>
    /// Loads the policy. <paramref name="adapter"/> null: full training of <paramref name="checkpoint"/> or the base; else a LoRA
    /// adapter named <paramref name="adapterName"/>, read from <paramref name="checkpoint"/> or made fresh from <paramref name="seed"/>, on a
    /// base quantized as <paramref name="baseQuantization"/> says (QLoRA; LoRA only).
    /// </summary>
    public static PolicyModel Load(string baseDirectory, ModelOptions options, LoraAdapterConfig? adapter, string adapterName, string? checkpoint, long seed,
        WeightQuantization? baseQuantization = null)
    {
        if (adapter is null && baseQuantization is not null) throw new ArgumentException("a quantized base trains LoRA adapters only");
        if (adapter is null) return new PolicyModel(ModelFolder.Load(checkpoint ?? baseDirectory, options), null, adapterName, baseDirectory);
        // A quantized base frees a dense transient per layer between the blocks it keeps: the run returns freed memory to the
        // kernel (Finetuner), or those holes would stay resident (a 1B-shaped q4_K base peaked at 3.5 GB, as much as bf16 LoRA).
        var lora = LoraModel.Load(baseDirectory, options, baseQuantization);
        if (checkpoint is not null) lora.LoadAdapter(adapterName, checkpoint);
        else lora.AddAdapter(adapterName, adapter, seed);
        lora.Router.Default = new LoraSelection(adapterName);
        return new PolicyModel(lora.Model, lora, adapterName, baseDirectory);
    }

    /// <summary>The policy's result into <paramref name="directory"/>: the PEFT adapter (LoRA), or the HF model folder with the base's tokenizer.</summary>
    public void SaveWeights(string directory)
    {
        if (Lora is not null) { Lora.SaveAdapter(adapterName, directory); return; }
        ModelFolder.Save(Model, directory);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            if (File.Exists(Path.Combine(baseDirectory, file)) && Path.GetFullPath(baseDirectory) != Path.GetFullPath(directory))
                File.Copy(Path.Combine(baseDirectory, file), Path.Combine(directory, file), overwrite: true);
    }

    /// <summary>Bytes of the weights file <see cref="SaveWeights"/> wrote into <paramref name="directory"/>.</summary>
    public long WeightsBytes(string directory) =>
        new FileInfo(Path.Combine(directory, Lora is not null ? LoraModel.AdapterWeightsFile : ModelFolder.WeightsFile)).Length;

    public void Dispose() => Model.Dispose();
}
