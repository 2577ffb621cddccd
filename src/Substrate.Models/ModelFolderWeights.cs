using static TorchSharp.torch;

namespace Substrate.Models;

/// <summary>
/// The tensors of a model folder by name, read one at a time from whichever file holds them (model.safetensors or the
/// shards of an index), each checked finite: what <see cref="ModelFolder.Load"/> copies into the parameters, and what a
/// QLoRA base quantizes layer by layer (<c>QuantizedLinearFactory</c>) so the dense base is never resident as a whole.
/// </summary>
public sealed class ModelFolderWeights(IReadOnlyDictionary<string, string> files) : IDisposable
{
    private readonly Dictionary<string, SafetensorsReader> readers = new(StringComparer.Ordinal);

    public ModelFolderWeights(string dir) : this(ModelFolder.WeightFiles(dir)) { }

    /// <summary>The tensor <paramref name="name"/> on the CPU in its stored dtype; the caller disposes it.</summary>
    public Tensor Read(string name)
    {
        var file = files.TryGetValue(name, out var f) ? f : throw new InvalidDataException($"no weights file holds tensor '{name}'");
        if (!readers.TryGetValue(file, out var reader)) readers[file] = reader = new SafetensorsReader(file);
        var loaded = reader.Read(name);
        try
        {
            ModelFolder.CheckFinite(file, name, loaded);
            return loaded;
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var r in readers.Values) r.Dispose();
        readers.Clear();
    }
}
