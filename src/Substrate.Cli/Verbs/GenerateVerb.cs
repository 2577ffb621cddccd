using System.CommandLine;
using System.Diagnostics;
using Substrate.Inference;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate generate</c>: continue a prompt, streaming only the new text to stdout.</summary>
public static class GenerateVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model") { Description = "A model folder (Hugging Face Llama layout).", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var runtime = new ModelOptionFlags();
        var sampling = new GenerationFlags();
        var command = new Command("generate", "Continue a prompt; the generated text streams to stdout, statistics to stderr.") { model, adapter, prompt };
        runtime.AddTo(command);
        sampling.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var (loaded, options) = sampling.Load(parsed, runtime, parsed.GetValue(model)!, parsed.GetValue(adapter), "generate");
            using (loaded) Stream(loaded, parsed.GetValue(prompt)!, options, Console.Out);
            return 0;
        });
        return command;
    }

    /// <summary>Writes the continuation piece by piece and reports speed on stderr; returns the text.</summary>
    public static string Stream(LoadedModel loaded, string prompt, GenerationOptions options, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        var text = new System.Text.StringBuilder();
        foreach (var piece in loaded.CreateGenerator().Stream(prompt, options))
        {
            output.Write(piece);
            output.Flush();
            text.Append(piece);
        }
        output.WriteLine();
        int tokens = loaded.Tokenizer.Encode(text.ToString()).Length;
        Console.Error.WriteLine(
            $"generate: {tokens} tokens in {clock.Elapsed.TotalSeconds:F2}s ({tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F1} tok/s)");
        return text.ToString();
    }
}
