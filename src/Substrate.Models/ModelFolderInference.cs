using static TorchSharp.torch;

namespace Substrate.Models;

public static partial class ModelFolder
{
    /// <summary>
    /// Loads a folder for inference (generate, chat, eval, serve, export): the same checks as <see cref="Load"/> (names and
    /// shapes from the headers first, a missing or truncated shard, NaN or infinity), but the parameters keep the dtype the
    /// file stores (fp32, bf16 or fp16: the embedding table's) and their storage is the file itself, memory-mapped
    /// private (<see cref="SafetensorsReader.Map"/>): nothing is copied, a process's resident memory grows only by the
    /// pages read, and nothing ever writes to the user's files. A tensor stored in another dtype than the embeddings, or
    /// at an offset a view cannot start at, is copied (converted) instead. <see cref="ModelOptions.WeightDtype"/> and
    /// <see cref="ModelOptions.InitializeWeights"/> of <paramref name="options"/> are replaced; its linears must be plain.
    /// Training verbs keep <see cref="Load"/> (fp32 master weights).
    /// </summary>
    public static LlamaForCausalLM LoadForInference(string dir, ModelOptions? options = null)
    {
        var config = ReadConfig(dir);
        var files = WeightFiles(dir); // tensor name → file
        CheckWeights(dir, config, WeightShapes(files));
        var stored = StoredDtype(dir, files);
        var model = new LlamaForCausalLM(config, (options ?? new ModelOptions()) with { WeightDtype = stored, InitializeWeights = false });
        try
        {
            MapWeights(model, files);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The dtype a folder's weights are stored in — its embedding table's, as <see cref="LoadForInference"/> keeps
    /// them: Float32, BFloat16 or Float16. Reads the safetensors headers only.</summary>
    public static ScalarType StoredDtype(string dir) => StoredDtype(dir, WeightFiles(dir));

    private static ScalarType StoredDtype(string dir, Dictionary<string, string> files)
    {
        const string embeddings = "model.embed_tokens.weight";
        if (!files.TryGetValue(embeddings, out var file)) throw new InvalidDataException($"{dir}: no weights file holds {embeddings}");
        using var reader = new SafetensorsReader(file);
        return SafetensorsReader.ToScalarType(reader.Entry(embeddings).Dtype);
    }

    private static void MapWeights(LlamaForCausalLM model, Dictionary<string, string> files)
    {
        var readers = new Dictionary<string, SafetensorsReader>();
        try
        {
            using var noGrad = no_grad();
            foreach (var (name, target) in model.state_dict())
            {
                var file = files[name];
                if (!readers.TryGetValue(file, out var reader)) readers[file] = reader = new SafetensorsReader(file);
                using var mapped = reader.Map(name) ?? reader.Read(name);
                CheckFinite(file, name, mapped);
                if (mapped.dtype == target.dtype) target.set_(mapped); // the parameter now is the view, same storage (set_ returns target itself)
                else target.copy_(mapped);
            }
        }
        finally
        {
            foreach (var r in readers.Values) r.Dispose(); // the mappings stay while the parameters use them
        }
    }

    /// <summary>Shard file names as transformers writes them: model-00001-of-00003.safetensors.</summary>
    public static string ShardFile(int index, int count) => $"model-{index:D5}-of-{count:D5}.safetensors";
}
