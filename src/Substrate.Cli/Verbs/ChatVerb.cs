using System.CommandLine;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Interop.Gguf;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate chat</c>: an interactive session in the model's chat format (<see cref="ChatAnswerer"/>), the one
/// fine-tuning and the server use: its chat template when tokenizer_config.json has one (the reply ends at EOS or the
/// end-of-turn token), else the "User: … / Assistant: …" transcript (each reply ends at the next "User:" line).
/// </summary>
public static class ChatVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model")
        {
            Description = "A model folder, or a .gguf file (run quantized in place on the CPU decoder, its own chat template).", Required = true,
        };
        var system = new Option<string?>("--system") { Description = "Text placed before the conversation." };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var runtime = new ModelOptionFlags();
        var sampling = new GenerationFlags();
        var command = new Command("chat", "Talk with a model in turns (empty line or /exit to quit, /reset to forget).") { model, adapter, system };
        runtime.AddTo(command);
        sampling.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var path = parsed.GetValue(model)!;
            if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            {
                if (parsed.GetValue(adapter) is not null) throw new ArgumentException("--adapter needs a model folder, not a .gguf file");
                if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}");
                var options = sampling.Read(parsed, GenerationDefaults.HuggingFace);
                runtime.StartInference(parsed, path);
                using var gguf = GgufGenerator.Open(path);
                Console.Error.WriteLine($"chat: {sampling.Describe(parsed, options, GenerationDefaults.HuggingFace)}");
                var decoder = gguf.Decoder;
                Converse(new ChatAnswerer(gguf.Generator, gguf.TokenizerConfig, decoder.Config, decoder.MaxLength), parsed.GetValue(system), options);
                return 0;
            }
            var (loaded, settings) = sampling.Load(parsed, runtime, path, parsed.GetValue(adapter), "chat");
            using (loaded) Converse(new ChatAnswerer(loaded), parsed.GetValue(system), settings);
            return 0;
        });
        return command;
    }

    /// <summary>Turns rendered with the model's chat format; the oldest turns are dropped when the prompt outgrows the context.</summary>
    static void Converse(ChatAnswerer answerer, string? system, GenerationOptions options)
    {
        var messages = new List<ChatMessage>();
        if (system is not null) messages.Add(new ChatMessage("system", system.Trim()));
        while (true)
        {
            Console.Error.Write("you> ");
            string? line = Console.In.ReadLine();
            if (line is null || line.Trim() is "" or "/exit") break;
            if (line.Trim() == "/reset") { messages.RemoveAll(m => m.Role != "system"); continue; }
            messages.Add(new ChatMessage("user", line.Trim()));
            Console.Error.Write("model> ");
            var reply = answerer.Reply(messages, options, piece => { Console.Out.Write(piece); Console.Out.Flush(); });
            Console.Out.WriteLine();
            messages.Add(new ChatMessage("assistant", reply));
        }
    }
}
