using Substrate.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Models;

/// <summary>
/// A model as a Hugging Face folder: <c>config.json</c>, <c>model.safetensors</c> (or shards with
/// <c>model.safetensors.index.json</c>), <c>generation_config.json</c>. Loads in transformers;
/// Llama-family folders from the Hub load here.
/// </summary>
public static partial class ModelFolder
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string WeightsIndexFile = "model.safetensors.index.json";
    public const string GenerationConfigFile = GenerationConfig.FileName;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>Writes config.json, generation_config.json (<see cref="GenerationConfig.ForModel"/>) and model.safetensors
    /// (weights in <paramref name="dtype"/>: Float32 or BFloat16), each atomically. With <paramref name="maxShardBytes"/>, the
    /// weights go to shards of at most that many bytes (a larger tensor gets one alone) named as transformers names them,
    /// with model.safetensors.index.json; the other form, if the folder held it, is deleted.</summary>
    public static void Save(LlamaForCausalLM model, string dir, ScalarType dtype = ScalarType.Float32, long? maxShardBytes = null)
    {
        var dtypeName = dtype switch
        {
            ScalarType.Float32 => "float32",
            ScalarType.BFloat16 => "bfloat16",
            _ => throw new ArgumentException($"weights can be saved as Float32 or BFloat16, not {dtype}", nameof(dtype)),
        };
        Directory.CreateDirectory(dir);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var tensors = model.state_dict().Select(kv => KeyValuePair.Create(kv.Key, kv.Value.to(dtype))).ToList();
            if (maxShardBytes is { } limit) SaveShards(dir, tensors, limit);
            else
            {
                SafetensorsWriter.Write(Path.Combine(dir, WeightsFile), tensors, PtFormat);
                File.Delete(Path.Combine(dir, WeightsIndexFile));
            }
        }
        var config = model.Config with { TorchDtype = dtypeName };
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), JsonSerializer.Serialize(config, Json) + "\n");
        AtomicFile.WriteAllText(Path.Combine(dir, GenerationConfigFile), GenerationConfig.ForModel(config).ToJson());
    }

    private static readonly Dictionary<string, string> PtFormat = new() { ["format"] = "pt" };

    private static void SaveShards(string dir, List<KeyValuePair<string, Tensor>> tensors, long maxShardBytes)
    {
        static long Bytes(Tensor t) => t.numel() * t.element_size();
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long shardBytes = 0; // of shards[^1]
        foreach (var tensor in tensors)
        {
            if (shards[^1].Count > 0 && shardBytes + Bytes(tensor.Value) > maxShardBytes)
            {
                shards.Add([]);
                shardBytes = 0;
            }
            shards[^1].Add(tensor);
            shardBytes += Bytes(tensor.Value);
        }
        var map = new JsonObject();
        for (var i = 0; i < shards.Count; i++)
        {
            var file = ShardFile(i + 1, shards.Count);
            SafetensorsWriter.Write(Path.Combine(dir, file), shards[i], PtFormat);
            foreach (var (name, _) in shards[i]) map[name] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(kv => Bytes(kv.Value)) }, ["weight_map"] = map };
        AtomicFile.WriteAllText(Path.Combine(dir, WeightsIndexFile), index.ToJsonString(Json) + "\n");
        File.Delete(Path.Combine(dir, WeightsFile));
    }

    /// <summary>Reads and validates config.json; <see cref="InvalidDataException"/> naming the file when it is unreadable.</summary>
    public static ModelConfig ReadConfig(string dir)
    {
        var path = Path.Combine(dir, ConfigFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no config.json in the model folder", path);
        ModelConfig config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: config is null");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: invalid config.json ({ex.Message})", ex);
        }
        try
        {
            config.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
        return config;
    }

    /// <summary>
    /// Loads a folder: every parameter of the model the config describes must be present with its exact
    /// shape (else <see cref="InvalidDataException"/> naming the tensor), checked from the headers before anything is
    /// allocated; a weight holding NaN or infinity is refused too. F32/F16/BF16 weights are converted to fp32 master
    /// weights. <c>rotary_emb.inv_freq</c> buffers are ignored, and so is <c>lm_head.weight</c> when the config ties
    /// embeddings. The global RNG is left as it was.
    /// </summary>
    public static LlamaForCausalLM Load(string dir, ModelOptions? options = null)
    {
        var config = ReadConfig(dir);
        var files = WeightFiles(dir); // tensor name → file
        CheckWeights(dir, config, WeightShapes(files));
        var rng = get_rng_state();
        LlamaForCausalLM model;
        try { model = new LlamaForCausalLM(config, options); }
        finally { set_rng_state(rng); rng.Dispose(); }
        try
        {
            LoadWeights(model, files);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks weight names and shapes (from the safetensors headers) against what <paramref name="config"/> describes,
    /// before anything is allocated; a config with more layers than the weights have tensors for fails at once, without
    /// walking its (maybe 10⁹) layers.
    /// </summary>
    public static void CheckWeights(string dir, ModelConfig config, IReadOnlyDictionary<string, long[]> shapes)
    {
        static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
        bool Ignored(string name) => name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal) || (name == "lm_head.weight" && config.TieWordEmbeddings);
        var held = shapes.Keys.Where(n => !Ignored(n)).ToHashSet(StringComparer.Ordinal);
        var tensorsPerLayer = config.FusedProjections ? 6 : 9; // q, k, v (or qkv), o, gate, up (or gate_up), down, two norms
        if ((long)config.NumHiddenLayers * tensorsPerLayer > held.Count)
            throw new InvalidDataException($"{dir}: config.json describes {config.NumHiddenLayers} layers ({tensorsPerLayer} tensors each); " +
                $"the weights hold {held.Count} tensors in all");
        foreach (var (name, shape) in ModelLayout.Parameters(config))
        {
            if (!held.Remove(name))
                throw new InvalidDataException($"{dir}: tensor '{name}' (shape {Shape(shape)}) is missing from the weights");
            if (!shapes[name].SequenceEqual(shape))
                throw new InvalidDataException($"{dir}: tensor '{name}' has shape {Shape(shapes[name])}; the config needs {Shape(shape)}");
        }
        var unexpected = held.Order(StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException(
                $"{dir}: {unexpected.Count} tensor(s) the config does not describe: " +
                $"{string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", …" : "")}");
    }

    private static void LoadWeights(LlamaForCausalLM model, Dictionary<string, string> files)
    {
        using var weights = new ModelFolderWeights(files);
        foreach (var (name, target) in model.state_dict())
        {
            using var loaded = weights.Read(name);
            using (no_grad()) target.copy_(loaded);
        }
    }

    internal static void CheckFinite(string file, string name, Tensor weights)
    {
        if (WeightValues.CountNonFinite(weights) is var count and > 0)
            throw new InvalidDataException($"{file}: tensor '{name}' holds {count} NaN or infinite values; the weights are corrupt");
    }

    /// <summary>Tensor name → shape, from the safetensors headers of <paramref name="files"/> (no data is read).</summary>
    public static Dictionary<string, long[]> WeightShapes(IReadOnlyDictionary<string, string> files)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var group in files.GroupBy(kv => kv.Value))
        {
            using var reader = new SafetensorsReader(group.Key);
            foreach (var (name, _) in group)
                shapes[name] = reader.Contains(name) ? reader.Entry(name).Shape.ToArray()
                    : throw new InvalidDataException($"{group.Key}: tensor '{name}' is missing (the index names this file)");
        }
        return shapes;
    }

    /// <summary>Tensor name → safetensors file, from model.safetensors or model.safetensors.index.json.</summary>
    public static Dictionary<string, string> WeightFiles(string dir)
    {
        var single = Path.Combine(dir, WeightsFile);
        var index = Path.Combine(dir, WeightsIndexFile);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(single))
        {
            using var reader = new SafetensorsReader(single);
            foreach (var e in reader.Entries) map[e.Name] = single;
            return map;
        }
        if (!File.Exists(index))
            throw new FileNotFoundException($"{dir}: neither {WeightsFile} nor {WeightsIndexFile} in the model folder", single);
        JsonObject weightMap;
        try
        {
            weightMap = JsonNode.Parse(File.ReadAllText(index))?["weight_map"] as JsonObject
                ?? throw new InvalidDataException($"{index}: no weight_map object");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{index}: invalid JSON ({ex.Message})", ex);
        }
        foreach (var (name, node) in weightMap)
        {
            var file = node is JsonValue v && v.TryGetValue<string>(out var f) ? f
                : throw new InvalidDataException($"{index}: weight_map['{name}'] is not a file name");
            if (file != Path.GetFileName(file) || file is "." or "..")
                throw new InvalidDataException($"{index}: weight_map['{name}'] = '{file}' is not a file name in the folder");
            map[name] = Path.Combine(dir, file);
        }
        foreach (var file in map.Values.Distinct())
            if (!File.Exists(file))
                throw new InvalidDataException($"{index}: weight_map names '{Path.GetFileName(file)}', which is not in the model folder (a shard is missing)");
        return map;
    }
}
