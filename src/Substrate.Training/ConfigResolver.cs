using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Substrate.Models;

namespace Substrate.Training;

/// <summary>
/// Builds a <see cref="PretrainConfig"/> with explicit precedence: preset → config file →
/// <c>--set key=value</c> overrides. Keys are the HF config.json keys (model) and the
/// <see cref="TrainConfig"/> keys (training); an unknown key or a value of the wrong type is an
/// <see cref="ArgumentException"/> naming it.
/// </summary>
public static class ConfigResolver
{
    /// <summary>HF config.json keys that carry no architecture and are accepted in a file without effect.</summary>
    static readonly HashSet<string> IgnoredFileKeys =
    [
        "transformers_version", "use_cache", "pretraining_tp", "attention_dropout", "pad_token_id", "_name_or_path", "rope_scaling",
    ];

    static readonly JsonSerializerOptions ConfigValues = new() { Converters = { new ConfigEnumConverter() } };
    static readonly Dictionary<string, PropertyInfo> ModelKeys = KeysOf(typeof(ModelConfig));
    static readonly Dictionary<string, PropertyInfo> TrainKeys = KeysOf(typeof(TrainConfig));

    /// <summary>
    /// Resolves a run's configuration. <paramref name="presetOrFile"/> is a preset name
    /// (<see cref="ModelPresets"/>) or a JSON file of model and/or training keys (a file may name
    /// its starting preset with <c>"preset": "name"</c>). When neither the file nor an override sets
    /// <c>vocab_size</c>, it is the data's <paramref name="dataVocabSize"/>; a vocab smaller than
    /// the data's is an error.
    /// </summary>
    public static PretrainConfig Resolve(string presetOrFile, IEnumerable<string> overrides, int? dataVocabSize = null)
    {
        JsonObject model, train = ToNode(new TrainConfig());
        bool vocabExplicit = false;
        bool isFile = presetOrFile.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(presetOrFile);
        if (!isFile)
            model = ToNode(ModelPresets.Get(presetOrFile));
        else
        {
            if (!File.Exists(presetOrFile)) throw new ArgumentException($"config file '{presetOrFile}' does not exist");
            var file = JsonNode.Parse(File.ReadAllText(presetOrFile)) as JsonObject
                ?? throw new ArgumentException($"{presetOrFile}: not a JSON object");
            var preset = file["preset"]?.GetValue<string>();
            model = ToNode(preset is null ? new ModelConfig() : ModelPresets.Get(preset));
            foreach (var (key, value) in file)
            {
                if (key == "preset" || IgnoredFileKeys.Contains(key)) continue;
                Set(model, train, key, CheckType(key, value, presetOrFile), presetOrFile);
                vocabExplicit |= key == "vocab_size";
            }
        }
        foreach (var assignment in overrides)
        {
            var (key, value) = ParseAssignment(assignment);
            Set(model, train, key, value, "--set");
            vocabExplicit |= key == "vocab_size";
        }
        var config = new PretrainConfig(FromNode<ModelConfig>(model), FromNode<TrainConfig>(train));
        if (dataVocabSize is int dataVocab)
        {
            if (!vocabExplicit) config = config with { Model = config.Model with { VocabSize = dataVocab } };
            CheckVocab(config.Model, dataVocab);
        }
        config.Train.Validate();
        return config;
    }

    /// <summary>
    /// A resumed run's configuration: the saved one plus training-key overrides. Model keys may be
    /// repeated with their saved values (the original command line), never changed.
    /// </summary>
    public static PretrainConfig ResolveResume(PretrainConfig saved, IEnumerable<string> overrides)
    {
        JsonObject model = ToNode(saved.Model), train = ToNode(saved.Train);
        foreach (var assignment in overrides)
        {
            var (key, value) = ParseAssignment(assignment);
            if (ModelKeys.ContainsKey(key))
            {
                // Repeating the original command line with --resume is fine; a different shape is not.
                if (!JsonNode.DeepEquals(model[key], value))
                    throw new ArgumentException($"--set {key}={value?.ToJsonString()}: "
                        + $"the resumed run has {key} = {model[key]?.ToJsonString() ?? "null"}; a model key cannot change when resuming");
                continue;
            }
            Set(model, train, key, value, "--set");
        }
        var config = new PretrainConfig(saved.Model, FromNode<TrainConfig>(train));
        config.Train.Validate();
        return config;
    }

    /// <summary>
    /// Applies <c>key=value</c> assignments to any config record whose keys are its <see cref="JsonPropertyNameAttribute"/>
    /// names (<c>FinetuneConfig</c>, <c>DpoOptions</c>): the edge where command-line text becomes a typed record. An unknown key
    /// or a value of the wrong type is an <see cref="ArgumentException"/> naming it.
    /// </summary>
    public static T Apply<T>(T config, IEnumerable<string> assignments) where T : class
    {
        var keys = KeysOf(typeof(T));
        var node = ToNode(config);
        foreach (var assignment in assignments)
        {
            var (key, text) = SplitAssignment(assignment);
            if (!keys.TryGetValue(key, out var property))
                throw new ArgumentException($"--set: unknown key '{key}'. Keys: {string.Join(", ", keys.Keys)}");
            node[key] = Parse(key, text, property.PropertyType);
        }
        return FromNode<T>(node);
    }

    public static void CheckVocab(ModelConfig model, int dataVocabSize)
    {
        if (model.VocabSize < dataVocabSize)
            throw new ArgumentException(
                $"config: vocab_size {model.VocabSize} is smaller than the data's vocabulary ({dataVocabSize}, meta.json): "
                + $"token ids would not fit the embedding");
    }

    /// <summary>Every settable key, for help texts.</summary>
    public static IReadOnlyCollection<string> ModelKeyNames => ModelKeys.Keys;
    public static IReadOnlyCollection<string> TrainKeyNames => TrainKeys.Keys;

    static (string Key, JsonNode? Value) ParseAssignment(string assignment)
    {
        var (key, text) = SplitAssignment(assignment);
        var property = Lookup(key, "--set");
        return (key, Parse(key, text, property.PropertyType));
    }

    static (string Key, string Text) SplitAssignment(string assignment)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) throw new ArgumentException($"--set '{assignment}': expected key=value");
        return (assignment[..eq].Trim(), assignment[(eq + 1)..].Trim());
    }

    static void Set(JsonObject model, JsonObject train, string key, JsonNode? value, string source)
    {
        Lookup(key, source);
        (ModelKeys.ContainsKey(key) ? model : train)[key] = value;
    }

    static PropertyInfo Lookup(string key, string source) =>
        ModelKeys.GetValueOrDefault(key) ?? TrainKeys.GetValueOrDefault(key)
        ?? throw new ArgumentException(
            $"{source}: unknown key '{key}'. Model keys: {string.Join(", ", ModelKeys.Keys)}. Training keys: {string.Join(", ", TrainKeys.Keys)}");

    /// <summary>A value from a file must deserialize to the key's type exactly (no number ↔ string coercion).</summary>
    static JsonNode? CheckType(string key, JsonNode? value, string source)
    {
        var type = Lookup(key, source).PropertyType;
        try
        {
            JsonSerializer.Deserialize(value, type, ConfigValues);
            return value?.DeepClone();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new ArgumentException(type.IsEnum ? $"{source}: {key} must be {Describe(type)}, got {value?.ToJsonString() ?? "null"}"
                : $"{source}: '{key}' must be {Describe(type)}, got {value?.ToJsonString() ?? "null"}");
        }
    }

    static JsonNode? Parse(string key, string text, Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying != null && text is "null" or "") return null;
        var t = underlying ?? type;
        var inv = CultureInfo.InvariantCulture;
        JsonNode? node =
            t == typeof(int) && int.TryParse(text, NumberStyles.Integer, inv, out var i) ? JsonValue.Create(i) :
            t == typeof(long) && long.TryParse(text, NumberStyles.Integer, inv, out var l) ? JsonValue.Create(l) :
            t == typeof(double) && double.TryParse(text, NumberStyles.Float, inv, out var d) && double.IsFinite(d) ? JsonValue.Create(d) :
            t == typeof(bool) && bool.TryParse(text, out var b) ? JsonValue.Create(b) :
            t == typeof(string) ? JsonValue.Create(text) :
            t.IsEnum && ConfigEnumConverter.Names(t).Contains(text) ? JsonValue.Create(text) :
            null;
        if (node == null && t.IsEnum) throw new ArgumentException($"--set {key}={text}: {key} must be {Describe(t)}");
        if (node == null)
            throw new ArgumentException(t == typeof(int) || t == typeof(long) || t == typeof(double) || t == typeof(bool)
                ? $"--set {key}={text}: '{key}' must be {Describe(type)}"
                : $"--set {key}: '{key}' ({t.Name}) cannot be set from the command line; use a config file");
        return node;
    }

    static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t == typeof(int) || t == typeof(long) ? "an integer" : t == typeof(double) ? "a number"
            : t == typeof(bool) ? "true or false" : t == typeof(string) ? "a string"
            : t.IsEnum ? "one of " + string.Join(", ", ConfigEnumConverter.Names(t).Select(n => $"\"{n}\"")) : $"a {t.Name}";
    }

    static Dictionary<string, PropertyInfo> KeysOf(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() == null && p.SetMethod != null)
        .Select(p => (Name: p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name, Property: p))
        .Where(x => x.Name != null)
        .ToDictionary(x => x.Name!, x => x.Property);

    static JsonObject ToNode<T>(T value) => (JsonObject)JsonSerializer.SerializeToNode(value)!;
    static T FromNode<T>(JsonObject node) => node.Deserialize<T>()!;
}
