using System.CommandLine;
using Substrate.Inference;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate chat</c>: an interactive session. A base model has no chat template, so the
/// conversation is kept as a running transcript ("User: … / Assistant: …") that the model continues;
/// each reply ends at the next "User:" line.
/// </summary>
public static class ChatVerb
{
    public static Command Build()
    {
        var model = new Option<string>("--model") { Description = "A model folder.", Required = true };
        var system = new Option<string?>("--system") { Description = "Text placed before the conversation." };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var runtime = new ModelOptionFlags();
        var sampling = new GenerationFlags();
        var command = new Command("chat", "Talk with a model in turns (empty line or /exit to quit, /reset to forget).") { model, adapter, system };
        runtime.AddTo(command);
        sampling.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var options = sampling.Read(parsed) with { StopStrings = ["\nUser:", "\n\n\n"] };
            using var loaded = LoadedModel.Load(parsed.GetValue(model)!, runtime.Read(parsed), parsed.GetValue(adapter));
            string preamble = parsed.GetValue(system) is string s ? s.Trim() + "\n\n" : "";
            var transcript = new System.Text.StringBuilder(preamble);
            int window = loaded.Model.Config.MaxPositionEmbeddings - options.MaxTokens;
            while (true)
            {
                Console.Error.Write("you> ");
                string? line = Console.In.ReadLine();
                if (line is null || line.Trim() is "" or "/exit") break;
                if (line.Trim() == "/reset") { transcript.Clear().Append(preamble); continue; }
                transcript.Append($"User: {line.Trim()}\nAssistant:");
                string prompt = KeepTail(loaded, transcript.ToString(), window);
                Console.Error.Write("model> ");
                string reply = GenerateVerb.Stream(loaded, prompt, options, Console.Out);
                transcript.Append(reply.TrimEnd()).Append('\n');
            }
            return 0;
        });
        return command;
    }

    /// <summary>Drops the oldest turns until the transcript fits the context window.</summary>
    static string KeepTail(LoadedModel loaded, string transcript, int window)
    {
        while (loaded.Tokenizer.Encode(transcript).Length > Math.Max(window, 16))
        {
            int next = transcript.IndexOf("\nUser:", 1, StringComparison.Ordinal);
            if (next < 0) return transcript[^Math.Min(transcript.Length, window)..];
            transcript = transcript[(next + 1)..];
        }
        return transcript;
    }
}
