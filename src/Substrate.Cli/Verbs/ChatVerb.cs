using System.CommandLine;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate chat</c>: an interactive session. When tokenizer_config.json has a chat template the
/// conversation is rendered with it (the prompt ends with the assistant's generation prompt; the reply ends
/// at EOS or the end-of-turn token). A base model without one keeps a running transcript
/// ("User: … / Assistant: …") that the model continues; each reply ends at the next "User:" line.
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
            var defaults = GenerationDefaults.Load(parsed.GetValue(model)!);
            var settings = sampling.Read(parsed, defaults);
            using var loaded = LoadedModel.Load(parsed.GetValue(model)!, runtime.Read(parsed), parsed.GetValue(adapter));
            Console.Error.WriteLine($"chat: {sampling.Describe(parsed, settings, defaults)}");
            if (ChatTemplate.From(loaded.TokenizerConfig) is not null)
            {
                TemplateChat(loaded, parsed.GetValue(system), settings);
                return 0;
            }
            var options = settings with { StopStrings = ["\nUser:", "\n\n\n"] };
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

    /// <summary>Turns rendered with the model's chat template; the oldest turns are dropped when the prompt outgrows the context.</summary>
    static void TemplateChat(LoadedModel loaded, string? system, GenerationOptions options)
    {
        var answerer = new ChatAnswerer(loaded);
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
