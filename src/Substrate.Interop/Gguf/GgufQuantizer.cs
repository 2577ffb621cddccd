using Substrate.Nn.Ggml;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// <c>substrate quantize</c>: a model folder or a GGUF file → a GGUF file of one <see cref="GgufFileType"/>, each tensor
/// of the type llama.cpp's quantizer gives it (<see cref="GgufTensorTypes"/>), encoded by ggml's reference algorithms
/// (<see cref="GgmlQuant"/>). A GGUF input keeps its metadata, tokenizer and tensor order; its weights are decoded to
/// float32 and encoded again (as llama.cpp's --allow-requantize does); tensors that are not weights are copied as they are.
/// </summary>
public static class GgufQuantizer
{
    /// <param name="input">a Hugging Face model folder, or a .gguf file of a supported architecture</param>
    /// <param name="outPath">the .gguf file to write (replaced atomically)</param>
    /// <param name="progress">called after each tensor with (tensors done, tensors in all, tensor name)</param>
    public static void Quantize(string input, string outPath, GgufFileType fileType, Action<int, int, string>? progress = null)
    {
        if (Directory.Exists(input))
        {
            GgufExporter.Export(input, outPath, fileType, progress: progress);
            return;
        }
        if (!File.Exists(input)) throw new FileNotFoundException($"no model folder or GGUF file at {input}");
        using var reader = new GgufReader(input);
        var config = GgufImporter.ReadConfig(reader); // refuses architectures Substrate does not know
        var writer = new GgufWriter(reader.Alignment);
        foreach (var key in reader.Keys.Where(k => k is not ("general.alignment" or "general.file_type" or "general.quantization_version")))
        {
            writer.Add(key, reader.Metadata[key]);
            if (key == "general.architecture")
            {
                writer.Add("general.file_type", (uint)fileType);
                writer.Add("general.quantization_version", 2u);
            }
        }
        var types = new GgufTensorTypes(fileType, reader.Tensors.Select(t => t.Name).ToList(), config.NumAttentionHeads / config.NumKeyValueHeads,
            config.ExpertCount);
        int done = 0;
        foreach (var tensor in reader.Tensors)
        {
            if (GgufTensorTypes.IsWeight(tensor.Name, tensor.Shape))
                writer.AddTensor(tensor.Name, tensor.Shape, reader.ReadFloats(tensor), types.Next(tensor.Name, tensor.Shape));
            else
                writer.AddTensorBytes(tensor.Name, tensor.Shape, tensor.Type, reader.ReadBytes(tensor));
            progress?.Invoke(++done, reader.Tensors.Count, tensor.Name);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        writer.Write(outPath);
    }
}
