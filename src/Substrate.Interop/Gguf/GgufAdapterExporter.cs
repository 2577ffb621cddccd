using Substrate.Nn.Ggml;
using System.Text.Json;
using static TorchSharp.torch;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Exports a PEFT LoRA folder (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>, keys
/// <c>base_model.model.&lt;path&gt;.lora_A.weight</c> [r, in] and <c>.lora_B.weight</c> [out, r]) to a llama.cpp GGUF
/// LoRA adapter: <c>general.type = adapter</c>, <c>adapter.type = lora</c>, <c>adapter.lora.alpha</c>, tensors
/// <c>&lt;gguf name&gt;.lora_a</c> / <c>.lora_b</c>. q/k adapters of llama-arch bases get the base model's row permutation on B's rows.
/// llama.cpp scales by alpha / r, as PEFT does (rsLoRA's alpha / √r is folded into the alpha written).
/// </summary>
public static class GgufAdapterExporter
{
    public static void Export(string adapterDir, string baseModelDir, string outPath, GgufFileType fileType = GgufFileType.F32)
    {
        if (fileType is not (GgufFileType.F32 or GgufFileType.F16 or GgufFileType.BF16))
            throw new ArgumentException($"LoRA adapters are written as F32, F16 or BF16, not {fileType}", nameof(fileType));
        var config = ModelFolder.ReadConfig(baseModelDir);
        var configPath = Path.Combine(adapterDir, "adapter_config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{adapterDir}: no adapter_config.json", configPath);
        double alpha;
        int rank;
        using (var doc = GgufTokenizerExporter.ParseJson(configPath))
        {
            var root = doc.RootElement;
            if (root.TryGetProperty("peft_type", out var type) && type.GetString() != "LORA")
                throw new NotSupportedException($"{configPath}: peft_type '{type.GetString()}' is not LORA");
            rank = root.TryGetProperty("r", out var r) ? r.GetInt32() : throw new InvalidDataException($"{configPath}: no \"r\"");
            alpha = root.TryGetProperty("lora_alpha", out var a) ? a.GetDouble() : rank;
            if (root.TryGetProperty("use_rslora", out var rs) && rs.ValueKind == JsonValueKind.True) alpha *= Math.Sqrt(rank);
            if (root.TryGetProperty("use_dora", out var dora) && dora.ValueKind == JsonValueKind.True)
                throw new NotSupportedException($"{configPath}: DoRA adapters have no llama.cpp counterpart");
        }

        var writer = new GgufWriter();
        var arch = GgufArchitecture.For(config);
        writer.Add("general.architecture", arch.Name);
        writer.Add("general.type", "adapter");
        writer.Add("general.name", new DirectoryInfo(Path.GetFullPath(adapterDir)).Name);
        writer.Add("adapter.type", "lora");
        writer.Add("adapter.lora.alpha", (float)alpha);
        var type16 = GgmlTypes.WeightType(fileType);

        using var reader = new SafetensorsReader(Path.Combine(adapterDir, "adapter_model.safetensors"));
        const string prefix = "base_model.model.";
        var pairs = new SortedDictionary<string, (string? A, string? B)>(StringComparer.Ordinal);
        foreach (var e in reader.Entries)
        {
            var name = e.Name.StartsWith(prefix, StringComparison.Ordinal) ? e.Name[prefix.Length..] : e.Name;
            bool isA = name.EndsWith(".lora_A.weight", StringComparison.Ordinal), isB = name.EndsWith(".lora_B.weight", StringComparison.Ordinal);
            if (!isA && !isB) throw new NotSupportedException($"{reader.Path}: tensor '{e.Name}' is not a LoRA A/B weight (only those export to GGUF)");
            var module = name[..name.LastIndexOf(".lora_", StringComparison.Ordinal)];
            var pair = pairs.GetValueOrDefault(module);
            pairs[module] = isA ? (e.Name, pair.B) : (pair.A, e.Name);
        }
        foreach (var (module, (aName, bName)) in pairs)
        {
            var ggufName = arch.ToGguf(module + ".weight");
            if (ggufName is null || ggufName is "token_embd.weight" || ggufName.EndsWith("norm.weight", StringComparison.Ordinal))
                throw new NotSupportedException($"{reader.Path}: a LoRA on '{module}' has no llama.cpp counterpart (linear projections only)");
            if (aName is null || bName is null) throw new InvalidDataException($"{reader.Path}: '{module}' has lora_A or lora_B but not both");
            var (a, aShape) = Read(reader, aName);
            var (b, bShape) = Read(reader, bName);
            if (aShape.Length != 2 || bShape.Length != 2 || aShape[0] != bShape[1])
                throw new InvalidDataException(
                    $"{reader.Path}: '{module}' lora_A [{string.Join(", ", aShape)}] and lora_B [{string.Join(", ", bShape)}] do not multiply");
            b = arch.Values(ggufName, b, config, (int)bShape[1]);
            var typeA = aShape[1] % (GgmlTypes.Layout(type16)!.Value.BlockSize) == 0 ? type16 : GgmlType.F32;
            writer.AddTensor(ggufName + ".lora_a", aShape, a, typeA);
            writer.AddTensor(ggufName + ".lora_b", bShape, b, type16);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        writer.Write(outPath);
    }

    private static (float[] Values, long[] Shape) Read(SafetensorsReader reader, string name)
    {
        using var t = reader.Read(name);
        using var f32 = t.to(ScalarType.Float32).contiguous();
        return (f32.data<float>().ToArray(), t.shape);
    }
}
