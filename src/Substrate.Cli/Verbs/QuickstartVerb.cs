using System.CommandLine;
using Spectre.Console;
using Substrate.Recipes;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate quickstart</c>: the whole loop on the bundled corpus — tokenizer → token shards →
/// compute-optimal plan → pretraining → validation perplexity → a generated sample; with <c>--chat</c>, then
/// instruction tuning into a chat model and sample chat turns (<see cref="QuickstartChat"/>), on the model just
/// pretrained or, with <c>--base</c>, on an existing one. The recipes live in Substrate.Recipes; this verb holds the
/// flags and renders their report on the terminal.
/// </summary>
public static class QuickstartVerb
{
    public static Command Build()
    {
        var corpus = new Option<string?>("--corpus")
        {
            Description = "Corpus folder with train.jsonl.gz and validation.jsonl.gz (default: the bundled data/corpus).",
        };
        var output = new Option<string>("--out")
        {
            Description = "Work folder (tokenizer/, data/, model/).",
            DefaultValueFactory = _ => Path.Combine("runs", "quickstart"),
        };
        var minutes = new Option<double>("--minutes") { Description = "Pretraining time budget.", DefaultValueFactory = _ => 4 };
        var vocabSize = new Option<int>("--vocab-size") { DefaultValueFactory = _ => 4096 };
        var prompt = new Option<string>("--prompt") { Description = "Prompt of the sample.", DefaultValueFactory = _ => "The ship" };
        var chat = new Option<bool>("--chat") { Description = "Then instruction-tune the model into a chat model (<out>/chat) and show a few chat turns." };
        var chatMinutes = new Option<double>("--chat-minutes") { Description = "Instruction-tuning time budget.", DefaultValueFactory = _ => 3 };
        var instructions = new Option<string?>("--instructions")
        {
            Description = "Instruction folder with train.jsonl.gz and validation.jsonl.gz (default: the bundled data/instructions).",
        };
        var chatQuestions = new Option<int>("--chat-questions") { Description = "Score only the first N held-out questions (0: all)." };
        var baseModel = new Option<string?>("--base") { Description = "With --chat: instruction-tune this model folder instead of pretraining one." };
        var command = new Command(
            "quickstart",
            "Train a tokenizer and pretrain a compute-optimal model on the bundled corpus, then evaluate it and generate a sample; "
            + "--chat makes a chat model of it.")
        {
            corpus, output, minutes, vocabSize, prompt, chat, chatMinutes, chatQuestions, instructions, baseModel,
        };
        command.SetAction((ParseResult parsed, CancellationToken cancellation) =>
        {
            string outDir = parsed.GetValue(output)!;
            string? baseDir = parsed.GetValue(baseModel);
            var chatBudget = TimeSpan.FromMinutes(parsed.GetValue(chatMinutes));
            if (baseDir is not null && !parsed.GetValue(chat)) throw new ArgumentException("--base needs --chat");
            if (parsed.GetValue(chat) && chatBudget <= TimeSpan.Zero) throw new ArgumentException("--chat-minutes must be positive");
            string? instructionDir = parsed.GetValue(chat)
                ? QuickstartChat.CheckInstructions(parsed.GetValue(instructions) ?? QuickstartChat.FindInstructions())
                : null;
            if (baseDir is not null && !File.Exists(Path.Combine(baseDir, "config.json")))
                throw new DirectoryNotFoundException($"--base: no model folder (config.json) at {baseDir}");
            if (TimeSpan.FromMinutes(parsed.GetValue(minutes)) <= TimeSpan.Zero) throw new ArgumentException("--minutes must be positive");
            var report = new ConsoleReport();
            bool fromScratch = baseDir is null;
            if (baseDir is null)
            {
                var result = Quickstart.Run(new QuickstartOptions
                {
                    Corpus = parsed.GetValue(corpus) ?? BundledCorpus.Find(), OutputDirectory = outDir,
                    Budget = TimeSpan.FromMinutes(parsed.GetValue(minutes)), VocabSize = parsed.GetValue(vocabSize), Prompt = parsed.GetValue(prompt)!,
                }, report, cancellation);
                Terminal.Info("Try:");
                Terminal.Info($"  substrate generate --model {Markup.Escape(result.ModelDirectory)} --prompt \"Whales\"");
                Terminal.Info($"  substrate chat --model {Markup.Escape(result.ModelDirectory)}");
                baseDir = result.ModelDirectory;
            }
            if (instructionDir is null) return Task.FromResult(0);
            var tuned = QuickstartChat.Run(new QuickstartChatOptions
            {
                BaseDirectory = baseDir, Instructions = instructionDir, OutputDirectory = Path.Combine(outDir, "chat"),
                Budget = chatBudget, FirstStage = fromScratch ? 7 : 1, QuestionLimit = parsed.GetValue(chatQuestions),
            }, report, cancellation);
            Terminal.Info($"Try:  substrate chat --model {Markup.Escape(tuned.ChatDirectory)}");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>A quickstart on the terminal: stage rules, progress bars and panels on stderr, the generated text on stdout.</summary>
    sealed class ConsoleReport : IQuickstartReport
    {
        public void Stage(int number, string name) => Terminal.Info($"[bold]── {number}. {Markup.Escape(name)} ──────────[/]");

        public T Progress<T>(string title, Func<Action<string, double?>, T> work) => Terminal.WithProgress(title, work);

        public void Line(string text) => Terminal.Info(Markup.Escape(text));

        public void Config(string title, string json) => Terminal.Err.Write(new Panel(new Text(json)).Header(Markup.Escape(title)).Collapse());

        public void Text(string piece)
        {
            Console.Out.Write(piece);
            Console.Out.Flush();
        }
    }
}
