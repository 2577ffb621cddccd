using Substrate.Data.Instructions;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Models;
using Substrate.Tokenizers.ChatTemplates;
using Substrate.Training;
using Substrate.Training.Finetuning;

namespace Substrate.Recipes;

/// <summary>What <see cref="QuickstartChat.Run"/> reads and writes.</summary>
public sealed record QuickstartChatOptions
{
    /// <summary>The base model folder: the one a quickstart just pretrained, or any other.</summary>
    public required string BaseDirectory { get; init; }
    /// <summary>An instruction folder with <c>train.jsonl.gz</c> and <c>validation.jsonl.gz</c> (<see cref="QuickstartChat.FindInstructions"/>).</summary>
    public required string Instructions { get; init; }
    /// <summary>The chat model's folder, replaced by each run.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>The instruction-tuning time budget.</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromMinutes(3);
    /// <summary>The number of the first of this recipe's two stages (after a quickstart's six: 7).</summary>
    public int FirstStage { get; init; } = 1;
    /// <summary>Score only the first N held-out questions (0: all).</summary>
    public int QuestionLimit { get; init; }
    /// <summary>libtorch threads (0: one per core).</summary>
    public int Threads { get; init; }
}

/// <summary>How the chat stage went: the tuned run and the held-out "which source" accuracies (likeliest answer among the sources,
/// and the generated answer exact), the base model's zero-shot beside the chat model's.</summary>
public sealed record QuickstartChatResult(string ChatDirectory, FinetuneResult Tuned, int Questions, int Sources,
    double BaseChoiceAccuracy, double ChatChoiceAccuracy, double ChatExactAccuracy);

/// <summary>
/// The chat stage of a quickstart: instruction-tune a base on the bundled instruction chats (full fine-tuning: at a few
/// million parameters it learns the answer formats far faster than a rank-8 adapter) for a bounded time → a chat model
/// folder → sample turns through its chat template → accuracy on the held-out "which source" questions, the tuned model
/// against the base zero-shot.
/// </summary>
public static class QuickstartChat
{
    const string SourceQuestion = "Which source does this passage come from?";

    /// <summary>The bundled <c>data/instructions</c> (beside the bundled corpus).</summary>
    public static string FindInstructions() => Path.Combine(Path.GetDirectoryName(BundledCorpus.Find())!, "instructions");

    /// <summary>The instruction folder, checked before any training starts.</summary>
    public static string CheckInstructions(string instructions)
    {
        foreach (var file in new[] { BundledCorpus.TrainFile, BundledCorpus.ValidationFile })
            if (!File.Exists(Path.Combine(instructions, file)))
                throw new FileNotFoundException($"instruction data not found: {Path.Combine(instructions, file)} "
                    + $"(pass a folder with {BundledCorpus.TrainFile} and {BundledCorpus.ValidationFile})");
        return instructions;
    }

    public static QuickstartChatResult Run(QuickstartChatOptions options, IQuickstartReport report, CancellationToken cancellation = default)
    {
        string instructions = CheckInstructions(options.Instructions), chatDir = options.OutputDirectory;
        string train = Path.Combine(instructions, BundledCorpus.TrainFile), validation = Path.Combine(instructions, BundledCorpus.ValidationFile);
        if (options.Budget <= TimeSpan.Zero) throw new ArgumentException("the instruction-tuning budget must be positive");
        if (Directory.Exists(chatDir)) Directory.Delete(chatDir, recursive: true);
        var questions = SourceQuestions(validation);
        if (options.QuestionLimit > 0) questions = questions.Take(options.QuestionLimit).ToList();
        if (questions.Count == 0) throw new InvalidDataException($"{validation}: no held-out \"{SourceQuestion}\" turns to score");

        report.Stage(options.FirstStage, "instruction tune");
        var tuned = Tune(options, train, validation, report, cancellation);

        report.Stage(options.FirstStage + 1, "chat");
        var choices = questions.Select(q => q.Answer).Distinct().Order(StringComparer.Ordinal).ToList();
        var greedy = new GenerationOptions { MaxTokens = 48, Temperature = 0 };
        double chatChoice, chatExact, baseChoice;
        using (var chat = LoadedModel.Load(chatDir))
        {
            var answerer = new ChatAnswerer(chat);
            foreach (var turn in SampleTurns(validation, questions[0].Question)) // each its own conversation: a tiny model keeps poorly to the latest turn
            {
                report.Text($"you> {turn.ReplaceLineEndings("\n     ")}\n");
                report.Text($"model> {answerer.Reply([new ChatMessage("user", turn)], greedy)}\n");
            }
            chatChoice = Accuracy(questions, q => choices[answerer.Choose([new("user", q.Question)], choices)] == q.Answer);
            chatExact = Accuracy(questions, q => answerer.Reply([new("user", q.Question)], greedy with { MaxTokens = 8 }) == q.Answer);
        }
        using (var baseModel = LoadedModel.Load(options.BaseDirectory))
        {
            var baseAnswerer = new ChatAnswerer(baseModel);
            baseChoice = Accuracy(questions, q => choices[baseAnswerer.Choose([new("user", q.Question)], choices)] == q.Answer);
        }
        report.Line($"chat: {questions.Count} held-out \"which source\" questions ({choices.Count} sources, chance {1.0 / choices.Count:P0}): "
            + $"base zero-shot {baseChoice:P1} (likeliest answer); chat model {chatChoice:P1} (likeliest answer), {chatExact:P1} (generated answer exact)");
        report.Line($"chat: instruction-tuned for {tuned.Step} steps in {tuned.TrainSeconds:F0}s, best validation loss "
            + $"{TrainProgress.Format(tuned.BestValidationLoss)} → {chatDir}");
        return new QuickstartChatResult(chatDir, tuned, questions.Count, choices.Count, baseChoice, chatChoice, chatExact);
    }

    /// <summary>Full fine-tuning at a constant learning rate after warm-up (the time limit, not max_steps, ends the run);
    /// the best validation weights are kept.</summary>
    static FinetuneResult Tune(QuickstartChatOptions options, string train, string validation, IQuickstartReport report, CancellationToken cancellation)
    {
        int maxPositions = ModelFolder.ReadConfig(options.BaseDirectory).MaxPositionEmbeddings;
        var finetune = new FinetuneOptions
        {
            ModelDirectory = options.BaseDirectory, DataPath = train, ValidationPath = validation, OutputDirectory = options.OutputDirectory,
            TimeLimit = options.Budget, Threads = options.Threads,
            Config = new FinetuneConfig
            {
                Method = "full", Lr = 3e-4, MinLr = 3e-4, WarmupSteps = 20, Epochs = 50, BatchSize = 8, SeqLen = Math.Min(256, maxPositions),
                EvalEvery = 50, Patience = 0, CheckpointEvery = 0, LoraDropout = 0,
            },
        };
        report.Config("finetune config", finetune.Config.ToJson().TrimEnd());
        var result = report.Progress("finetune", update => Finetuner.Run(finetune,
            TrainProgress.Reporter(line => report.Line($"finetune: {line}"), update), cancellation));
        report.Line($"finetune: {result.Summary}");
        return result;
    }

    /// <summary>Held-out single "which source" turns: the user's question and the assistant's answer (a source name).</summary>
    static List<(string Question, string Answer)> SourceQuestions(string path) =>
        InstructionFile.Read(path).OfType<ChatRecord>().SelectMany(r => r.Messages.Zip(r.Messages.Skip(1)))
            .Where(p => p.First.Role == "user" && p.Second.Role == "assistant" && p.First.Content.StartsWith(SourceQuestion, StringComparison.Ordinal))
            .Select(p => (p.First.Content, p.Second.Content.Trim())).ToList();

    /// <summary>Three held-out questions: which source, a definition, a continuation.</summary>
    static List<string> SampleTurns(string path, string sourceQuestion)
    {
        var users = InstructionFile.Read(path).OfType<ChatRecord>().SelectMany(r => r.Messages).Where(m => m.Role == "user").Select(m => m.Content).ToList();
        return [sourceQuestion, .. users.Where(u => u.StartsWith("Define the word", StringComparison.Ordinal)).Take(1),
            .. users.Where(u => u.StartsWith("Continue the passage", StringComparison.Ordinal)).Take(1)];
    }

    static double Accuracy<T>(IReadOnlyList<T> items, Func<T, bool> correct) => items.Count(correct) / (double)items.Count;
}
