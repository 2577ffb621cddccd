using Substrate.IO;
using Substrate.Nn;
using Substrate.Nn.Quantized;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Substrate.Models.Lora;

/// <summary>
/// A base model whose projections are <see cref="LoraLinear"/>s, with named adapters on top: load PEFT folders,
/// create fresh trainable adapters, select one per call through <see cref="Router"/>, save, merge. The base
/// weights are loaded once and shared by every adapter; adapters are only their A/B pairs.
/// </summary>
public sealed class LoraModel : IDisposable
{
    public const string AdapterWeightsFile = "adapter_model.safetensors";
    private const string KeyPrefix = "base_model.model.";

    private readonly LoraLinearFactory factory;
    private readonly Dictionary<string, LoraAdapterConfig> configs = new(StringComparer.Ordinal);

    private LoraModel(LlamaForCausalLM model, LoraLinearFactory factory, string? baseDirectory)
    {
        Model = model;
        this.factory = factory;
        BaseDirectory = baseDirectory;
    }

    public LlamaForCausalLM Model { get; }
    public LoraRouter Router => factory.Router;
    public string? BaseDirectory { get; }
    public IReadOnlyDictionary<string, LoraLinear> Layers => factory.Layers;
    public IReadOnlyDictionary<string, LoraAdapterConfig> Adapters => configs;

    /// <summary>Loads a base model folder with LoRA-wrapped projections (no adapter yet); the base is frozen. With
    /// <paramref name="baseQuantization"/> (QLoRA) each projection's weight is read and quantized into blocks one layer at a
    /// time (<see cref="QuantizedLinearFactory"/>), and the embeddings and output head are kept in the compute dtype; the
    /// norms stay fp32.</summary>
    public static LoraModel Load(string baseDirectory, ModelOptions? options = null, WeightQuantization? baseQuantization = null)
    {
        options ??= new ModelOptions();
        using var weights = baseQuantization is null ? null : new ModelFolderWeights(baseDirectory);
        var factory = Factory(options, baseQuantization, weights is null ? null : weights.Read);
        var model = ModelFolder.Load(baseDirectory, WithFactory(options, factory));
        Freeze(model, baseQuantization is not null);
        return new LoraModel(model, factory, baseDirectory);
    }

    /// <summary>A fresh seeded model of <paramref name="config"/> with LoRA-wrapped projections (tests, benchmarks), on a
    /// quantized base where <paramref name="baseQuantization"/> says.</summary>
    public static LoraModel Create(ModelConfig config, ModelOptions? options = null, WeightQuantization? baseQuantization = null)
    {
        options ??= new ModelOptions();
        var factory = Factory(options, baseQuantization, null);
        var model = new LlamaForCausalLM(config, WithFactory(options, factory));
        Freeze(model, baseQuantization is not null);
        return new LoraModel(model, factory, null);
    }

    private static LoraLinearFactory Factory(ModelOptions options, WeightQuantization? quantization, Func<string, Tensor>? source) =>
        new(quantization is { } q ? new QuantizedLinearFactory(q, source, options.Device, options.ComputeDtype) : options.LinearFactory,
            options.Device, options.WeightDtype);

    private static ModelOptions WithFactory(ModelOptions o, LoraLinearFactory f) => o with { LinearFactory = f };

    private static void Freeze(LlamaForCausalLM model, bool quantized)
    {
        if (quantized) model.EmbedTokens.to(model.Options.ComputeDtype); // (V, H), as QLoRA keeps it
        foreach (var p in model.parameters()) p.requires_grad = false;
    }

    /// <summary>Adds a fresh trainable adapter: A ~ U(±1/√in) (PEFT's kaiming-uniform, a = √5), B = 0, so it starts as the base.
    /// Draws from a generator seeded with <paramref name="seed"/>; the global RNG is untouched.</summary>
    public void AddAdapter(string name, LoraAdapterConfig config, long seed = 0)
    {
        config.Validate();
        var targets = Targeted(config);
        using var generator = new Generator((ulong)seed);
        foreach (var (path, layer) in targets)
        {
            var bound = 1.0 / Math.Sqrt(layer.InFeatures);
            var a = (rand(new long[] { config.R, layer.InFeatures }, generator: generator) * (2 * bound) - bound).to(Model.Options.Device); // (r, in)
            var b = zeros(layer.OutFeatures, config.R, device: Model.Options.Device);                                                      // (out, r)
            layer.Add(name, new LoraPair(new Parameter(a).DetachFromDisposeScope(), new Parameter(b).DetachFromDisposeScope(),
                config.Scale, config.LoraDropout));
        }
        configs[name] = config with { BaseModelNameOrPath = config.BaseModelNameOrPath ?? BaseDirectory };
    }

    private List<(string Path, LoraLinear Layer)> Targeted(LoraAdapterConfig config)
    {
        var targets = factory.Layers.Where(kv => config.Targets(kv.Key)).Select(kv => (kv.Key, kv.Value)).ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"target modules [{string.Join(", ", config.TargetModules)}] match no projection of this model "
                + "(Llama has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; a mixture of experts gate (its router) and its experts' "
                + "w1, w2, w3 (Mixtral) or gate_proj, up_proj, down_proj (Qwen MoE); or all-linear)");
        return targets;
    }

    /// <summary>Loads a PEFT adapter folder under <paramref name="name"/>. Clear errors for an adapter made for another
    /// base (a missing layer, a shape that does not fit), rank 0 or a non-LoRA config.</summary>
    public LoraAdapterConfig LoadAdapter(string name, string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"adapter folder not found: {directory}");
        var config = LoraAdapterConfig.Read(directory);
        var file = Path.Combine(directory, AdapterWeightsFile);
        if (!File.Exists(file)) throw new FileNotFoundException($"{directory}: no {AdapterWeightsFile}", file);
        using var reader = new SafetensorsReader(file);
        var pairs = new Dictionary<string, (Tensor? A, Tensor? B)>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in reader.Entries)
            {
                var (path, part) = ParseKey(entry.Name, file);
                var layer = factory.Layers.GetValueOrDefault(path)
                    ?? throw new InvalidDataException(
                        $"{file}: '{entry.Name}' names layer '{path}', which this base model does not have (an adapter for another base?)");
                long[] expected = part == "A" ? [config.R, layer.InFeatures] : [layer.OutFeatures, config.R];
                if (!entry.Shape.SequenceEqual(expected))
                    throw new InvalidDataException($"{file}: '{entry.Name}' has shape [{string.Join(", ", entry.Shape)}] "
                        + $"but this base with r = {config.R} needs [{string.Join(", ", expected)}] (an adapter made for another base?)");
                var t = reader.Read(entry.Name).to(ScalarType.Float32, Model.Options.Device).DetachFromDisposeScope();
                var current = pairs.GetValueOrDefault(path);
                pairs[path] = part == "A" ? (t, current.B) : (current.A, t);
            }
            if (pairs.Count == 0) throw new InvalidDataException($"{file}: holds no LoRA tensors");
            foreach (var (path, (a, b)) in pairs)
                if (a is null || b is null) throw new InvalidDataException($"{file}: layer '{path}' has lora_{(a is null ? "A" : "B")} missing");
        }
        catch
        {
            foreach (var (a, b) in pairs.Values) { a?.Dispose(); b?.Dispose(); }
            throw;
        }
        RemoveAdapter(name);
        foreach (var (path, (a, b)) in pairs) factory.Layers[path].Add(name, new LoraPair(a!, b!, config.Scale, config.LoraDropout));
        configs[name] = config;
        return config;
    }

    private static (string Path, string Part) ParseKey(string key, string file)
    {
        foreach (var part in new[] { "A", "B" })
        {
            var suffix = $".lora_{part}.weight";
            if (key.StartsWith(KeyPrefix, StringComparison.Ordinal) && key.EndsWith(suffix, StringComparison.Ordinal))
                return (key[KeyPrefix.Length..^suffix.Length], part);
        }
        throw new InvalidDataException($"{file}: tensor '{key}' is not a PEFT LoRA key (base_model.model.<path>.lora_A.weight / .lora_B.weight)");
    }

    /// <summary>The adapter's trainable tensors, by PEFT key.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> AdapterParameters(string name)
    {
        foreach (var (path, layer) in factory.Layers)
            if (layer.Adapters.TryGetValue(name, out var pair))
            {
                yield return ($"{KeyPrefix}{path}.lora_A.weight", pair.A);
                yield return ($"{KeyPrefix}{path}.lora_B.weight", pair.B);
            }
    }

    public long AdapterParameterCount(string name) => AdapterParameters(name).Sum(p => p.Parameter.numel());

    /// <summary>Writes the adapter as a PEFT folder: adapter_config.json + adapter_model.safetensors (fp32), atomically.</summary>
    public void SaveAdapter(string name, string directory)
    {
        if (!configs.TryGetValue(name, out var config)) throw new ArgumentException($"no adapter named '{name}'");
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, AdapterWeightsFile),
            AdapterParameters(name).Select(p => KeyValuePair.Create(p.Name, p.Parameter)), new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(directory, LoraAdapterConfig.FileName), config.ToJson());
    }

    /// <summary>Folds the adapter into the base weights (W ← W + scale·B·A) and drops it; every other adapter now sits on the merged base.</summary>
    public void Merge(string name)
    {
        if (!configs.Remove(name)) throw new ArgumentException($"no adapter named '{name}'");
        foreach (var layer in factory.Layers.Values)
            if (layer.Adapters.ContainsKey(name)) layer.Merge(name);
    }

    public bool RemoveAdapter(string name)
    {
        foreach (var layer in factory.Layers.Values) layer.Remove(name);
        return configs.Remove(name);
    }

    public void Dispose() => Model.Dispose();
}
