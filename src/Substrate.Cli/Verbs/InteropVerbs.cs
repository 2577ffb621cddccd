using Substrate.Nn.Ggml;
using System.CommandLine;
using System.Text.Json;
using Substrate.Models;
using Substrate.Interop.Gguf;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate export gguf</c>, <c>import gguf</c> and <c>info</c>: models in the formats the rest of the world runs.</summary>
public static class InteropVerbs
{
    public static Command BuildExport()
    {
        var model = new Option<string>("--model") { Description = "A model folder.", Required = true };
        var adapter = new Option<string?>("--adapter")
        {
            Description = "A PEFT LoRA adapter folder: export it as a GGUF LoRA adapter for this base instead of the model.",
        };
        var output = new Option<string>("--out") { Description = "The .gguf file to write.", Required = true };
        var type = new Option<string>("--type")
        {
            Description = "Tensor type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K_M, q4_K_S, q4_K_M, q5_K_M or q6_K " +
                "(q3_K, q4_K, q5_K: the _M mixes, as llama-quantize reads them; per tensor as llama.cpp's quantizer chooses; norms stay f32).",
            DefaultValueFactory = _ => "f16",
        };
        var gguf = new Command("gguf", "Write a GGUF v3 file that llama.cpp and Ollama load (tokenizer and chat template embedded).")
        {
            model, adapter, output, type,
        };
        gguf.SetAction((ParseResult parsed) =>
        {
            var fileType = GgmlTypes.ParseFileType(parsed.GetValue(type)!);
            string modelDir = parsed.GetValue(model)!, outPath = parsed.GetValue(output)!;
            if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"model folder not found: {modelDir}");
            if (parsed.GetValue(adapter) is string adapterDir)
                GgufAdapterExporter.Export(adapterDir, modelDir, outPath, fileType);
            else
                Terminal.WithProgress("export", report =>
                {
                    GgufExporter.Export(modelDir, outPath, fileType, progress: (done, total, tensor) => report(tensor, (double)done / total));
                    return 0;
                });
            Terminal.Info($"export: {Spectre.Console.Markup.Escape(outPath)} ({new FileInfo(outPath).Length:N0} bytes, {fileType})");
            return 0;
        });
        return new Command("export", "Export a model to another format.") { gguf };
    }

    public static Command BuildQuantize()
    {
        var model = new Option<string>("--model") { Description = "A model folder or a .gguf file.", Required = true };
        var output = new Option<string>("--out") { Description = "The .gguf file to write.", Required = true };
        var type = new Option<string>("--type")
        {
            Description = "q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K_M, q4_K_S, q4_K_M, q5_K_M or q6_K (also f32, f16, bf16; " +
                "q3_K, q4_K, q5_K name the _M mixes, as in llama-quantize).",
            DefaultValueFactory = _ => "q4_K_M",
        };
        var command = new Command("quantize",
            "Write a quantized GGUF file: ggml's reference block encoders, each tensor's type chosen as llama.cpp's quantizer does.")
        {
            model, output, type,
        };
        command.SetAction((ParseResult parsed) =>
        {
            var fileType = GgmlTypes.ParseFileType(parsed.GetValue(type)!);
            string input = parsed.GetValue(model)!, outPath = parsed.GetValue(output)!;
            Terminal.WithProgress("quantize", report =>
            {
                GgufQuantizer.Quantize(input, outPath, fileType, (done, total, tensor) => report(tensor, (double)done / total));
                return 0;
            });
            Terminal.Info($"quantize: {Spectre.Console.Markup.Escape(outPath)} ({new FileInfo(outPath).Length:N0} bytes, {fileType})");
            return 0;
        });
        return command;
    }

    public static Command BuildImport()
    {
        var input = new Option<string>("--in")
        {
            Description = "A GGUF file (llama, qwen2, qwen3; f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 and Q2_K…Q6_K tensors).", Required = true,
        };
        var output = new Option<string>("--out") { Description = "The model folder to write (Hugging Face layout).", Required = true };
        var gguf = new Command("gguf", "Turn a GGUF file into a Hugging Face model folder (quantized tensors dequantized).") { input, output };
        gguf.SetAction((ParseResult parsed) =>
        {
            string inPath = parsed.GetValue(input)!, outDir = parsed.GetValue(output)!;
            if (!File.Exists(inPath)) throw new FileNotFoundException($"GGUF file not found: {inPath}");
            var config = Terminal.WithProgress("import", report =>
                GgufImporter.Import(inPath, outDir, (done, total, tensor) => report(tensor, (double)done / total)));
            Terminal.Info(
                $"import: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, vocab {config.VocabSize} → {Spectre.Console.Markup.Escape(outDir)}");
            return 0;
        });
        return new Command("import", "Import a model from another format.") { gguf };
    }

    public static Command BuildInfo()
    {
        var model = new Option<string>("--model") { Description = "A model folder or a .gguf file.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of aligned lines." };
        var command = new Command("info", "Architecture, parameter count, vocabulary, context length, dtypes and sizes of a model (headers only).")
        {
            model, json,
        };
        command.SetAction((ParseResult parsed) =>
        {
            var info = ModelInfo.Describe(parsed.GetValue(model)!);
            Console.Out.Write(parsed.GetValue(json) ? JsonSerializer.Serialize(info) + "\n" : info.ToText());
            return 0;
        });
        return command;
    }
}
