using System.CommandLine;
using Spectre.Console;
using Substrate.Inference;
using Substrate.Recipes;
using Substrate.Tokenizers.Training;
using Substrate.Training;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate quickstart</c>: the whole loop on the bundled corpus — tokenizer → token shards →
/// compute-optimal plan → pretraining → validation perplexity → a generated sample; with <c>--chat</c>, then
/// instruction tuning into a chat model and sample chat turns (<see cref="QuickstartChat"/>), on the model just
/// pretrained or, with <c>--base</c>, on an existing one.
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
            string outDir = parsed.GetValue(output)!, chatDir = Path.Combine(outDir, "chat");
            var chatBudget = TimeSpan.FromMinutes(parsed.GetValue(chatMinutes));
            if (parsed.GetValue(baseModel) is not null && !parsed.GetValue(chat)) throw new ArgumentException("--base needs --chat");
            if (parsed.GetValue(chat) && chatBudget <= TimeSpan.Zero) throw new ArgumentException("--chat-minutes must be positive");
            string? instructionDir = parsed.GetValue(chat)
                ? QuickstartChat.CheckInstructions(parsed.GetValue(instructions) ?? QuickstartChat.FindInstructions())
                : null;
            if (parsed.GetValue(baseModel) is string existing)
            {
                if (!File.Exists(Path.Combine(existing, "config.json")))
                    throw new DirectoryNotFoundException($"--base: no model folder (config.json) at {existing}");
                QuickstartChat.Run(existing, instructionDir!, chatDir, chatBudget, 1, parsed.GetValue(chatQuestions), cancellation);
                return Task.FromResult(0);
            }
            string modelDir = Run(parsed.GetValue(corpus) ?? BundledCorpus.Find(), outDir, TimeSpan.FromMinutes(parsed.GetValue(minutes)),
                parsed.GetValue(vocabSize), parsed.GetValue(prompt)!, cancellation);
            if (instructionDir is not null) QuickstartChat.Run(modelDir, instructionDir, chatDir, chatBudget, 7, parsed.GetValue(chatQuestions), cancellation);
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>Steps 1–6; returns the model folder.</summary>
    static string Run(string corpus, string output, TimeSpan budget, int vocabSize, string prompt, CancellationToken cancellation)
    {
        string trainFile = Path.Combine(corpus, BundledCorpus.TrainFile);
        if (!File.Exists(trainFile)) throw new FileNotFoundException($"corpus has no {BundledCorpus.TrainFile}: {corpus}");
        string tokenizerDir = Path.Combine(output, "tokenizer"), dataDir = Path.Combine(output, "data"), modelDir = Path.Combine(output, "model");
        // A quickstart always starts from scratch: a previous run's folders are replaced.
        foreach (var dir in new[] { tokenizerDir, dataDir, modelDir })
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);

        Step(1, "tokenizer");
        TokenizerVerbs.Train([trainFile], new BpeTrainerOptions { VocabSize = vocabSize }, tokenizerDir).Print();

        Step(2, "data");
        var meta = DataVerbs.Prepare([corpus], tokenizerDir, dataDir, [], validationEvery: 100);

        Step(3, "plan");
        var plan = PlanVerb.Plan(budget, meta.VocabSize);

        Step(4, "pretrain");
        var train = plan.ApplyTo(new TrainConfig()) with { EvalEvery = Math.Max(25, plan.Steps / 8), CheckpointEvery = Math.Max(50, plan.Steps / 4) };
        var result = PretrainVerb.Run(new PretrainOptions
        {
            DataDirectory = dataDir, OutputDirectory = modelDir, Resolved = new PretrainConfig(plan.Model, train),
            TimeLimit = budget * 1.25, // the plan's steps should fit the budget; this bounds a slower machine
        }, cancellation);

        Step(5, "evaluate");
        using var loaded = LoadedModel.Load(modelDir);
        var perplexity = EvalVerbs.Perplexity(loaded, dataDir, "validation", maxTokens: 50_000);

        Step(6, "generate");
        Terminal.Info($"[grey]prompt:[/] {Markup.Escape(prompt)}");
        GenerateVerb.Stream(loaded, prompt,
            new GenerationOptions { MaxTokens = 80, Temperature = 0.8, TopK = 40, TopP = 0.95, RepetitionPenalty = 1.1, Seed = 42 }, Console.Out);

        Terminal.Info($"quickstart: a {plan.Parameters / 1e6:F2}M-parameter model trained on {result.TokensSeen:N0} tokens: " +
            $"validation loss {result.FinalValidationLoss:F3}, perplexity {perplexity.Perplexity:F1}. Try:");
        Terminal.Info($"  substrate generate --model {Markup.Escape(modelDir)} --prompt \"Whales\"");
        Terminal.Info($"  substrate chat --model {Markup.Escape(modelDir)}");
        return modelDir;
    }

    internal static void Step(int number, string name) => Terminal.Info($"[bold]── {number}. {name} ──────────[/]");
}
