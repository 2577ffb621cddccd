using System.CommandLine;
using System.Diagnostics;
using Substrate.Inference;
using Substrate.Interop.Gguf;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate generate</c>: continue a prompt, streaming only the new text to stdout.</summary>
public static class GenerateVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model")
        {
            Description = "A model folder (Hugging Face layout), or a .gguf file (run quantized in place on the CPU decoder).", Required = true,
        };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var runtime = new ModelOptionFlags();
        var sampling = new GenerationFlags();
        var command = new Command("generate", "Continue a prompt; the generated text streams to stdout, statistics to stderr.") { model, adapter, prompt };
        runtime.AddTo(command);
        sampling.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var path = parsed.GetValue(model)!;
            if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return GenerateFromGguf(parsed, path, runtime, sampling, prompt, adapter);
            var (loaded, options) = sampling.Load(parsed, runtime, path, parsed.GetValue(adapter), "generate");
            using (loaded) Stream(loaded.CreateGenerator(), parsed.GetValue(prompt)!, options, Console.Out);
            return 0;
        });
        return command;
    }

    /// <summary>A .gguf file: the tokenizer it carries and the CPU decoder over its mapped blocks (no generation_config.json:
    /// Hugging Face's defaults under the flags; --dtype does not apply, the blocks are computed as stored).</summary>
    static int GenerateFromGguf(ParseResult parsed, string path, ModelOptionFlags runtime, GenerationFlags sampling,
        Option<string> prompt, Option<string?> adapter)
    {
        if (parsed.GetValue(adapter) is not null) throw new ArgumentException("--adapter needs a model folder, not a .gguf file");
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}");
        var options = sampling.Read(parsed, GenerationDefaults.HuggingFace);
        runtime.StartInference(parsed, path);
        using var gguf = GgufGenerator.Open(path);
        Console.Error.WriteLine($"generate: {sampling.Describe(parsed, options, GenerationDefaults.HuggingFace)}");
        Console.Error.WriteLine($"generate: {path} on the CPU decoder, quantized blocks in place");
        Stream(gguf.Generator, parsed.GetValue(prompt)!, options, Console.Out);
        return 0;
    }

    /// <summary>Writes the continuation piece by piece and reports speed on stderr; returns the text.</summary>
    public static string Stream(Generator generator, string prompt, GenerationOptions options, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        var text = new System.Text.StringBuilder();
        foreach (var piece in generator.Stream(prompt, options))
        {
            output.Write(piece);
            output.Flush();
            text.Append(piece);
        }
        output.WriteLine();
        int tokens = generator.Tokenizer.Encode(text.ToString()).Length;
        Console.Error.WriteLine(
            $"generate: {tokens} tokens in {clock.Elapsed.TotalSeconds:F2}s ({tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F1} tok/s)");
        return text.ToString();
    }
}
