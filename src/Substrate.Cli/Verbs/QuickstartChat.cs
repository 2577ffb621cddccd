using Spectre.Console;
using Substrate.Data.Instructions;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Recipes;
using Substrate.Tokenizers.ChatTemplates;
using Substrate.Training.Finetuning;

namespace Substrate.Cli.Verbs;

/// <summary>
/// The chat stage of <c>substrate quickstart --chat</c>: instruction-tune the pretrained base on the bundled instruction
/// chats (full fine-tuning: at a few million parameters it learns the answer formats far faster than a rank-8 adapter)
/// for a bounded time → a chat model folder → sample turns through its chat template → accuracy on the held-out
/// "which source" questions, the tuned model against the base zero-shot.
/// </summary>
public static class QuickstartChat
{
    public const string TrainFile = "train.jsonl.gz", ValidationFile = "validation.jsonl.gz";
    const string SourceQuestion = "Which source does this passage come from?";

    /// <summary>The bundled <c>data/instructions</c> (beside the bundled corpus).</summary>
    public static string FindInstructions() => Path.Combine(Path.GetDirectoryName(BundledCorpus.Find())!, "instructions");

    /// <summary>The instruction folder, checked before any training starts.</summary>
    public static string CheckInstructions(string instructions)
    {
        foreach (var file in new[] { TrainFile, ValidationFile })
            if (!File.Exists(Path.Combine(instructions, file)))
                throw new FileNotFoundException($"instruction data not found: {Path.Combine(instructions, file)} "
                    + $"(pass --instructions <folder with {TrainFile} and {ValidationFile}>)");
        return instructions;
    }

    /// <summary>Steps <paramref name="firstStep"/> and the next; <paramref name="questionLimit"/> > 0 scores only that many held-out questions.</summary>
    public static void Run(string baseDir, string instructions, string chatDir, TimeSpan budget, int firstStep, int questionLimit,
        CancellationToken cancellation)
    {
        string train = Path.Combine(CheckInstructions(instructions), TrainFile), validation = Path.Combine(instructions, ValidationFile);
        if (Directory.Exists(chatDir)) Directory.Delete(chatDir, recursive: true);
        var questions = SourceQuestions(validation);
        if (questionLimit > 0) questions = questions.Take(questionLimit).ToList();
        if (questions.Count == 0) throw new InvalidDataException($"{validation}: no held-out \"{SourceQuestion}\" turns to score");

        QuickstartVerb.Step(firstStep, "instruction tune");
        int maxPositions = Models.ModelFolder.ReadConfig(baseDir).MaxPositionEmbeddings;
        var tuned = FinetuneVerb.Run(new FinetuneOptions
        {
            ModelDirectory = baseDir, DataPath = train, ValidationPath = validation, OutputDirectory = chatDir, TimeLimit = budget,
            // Constant learning rate after warm-up (the time limit, not max_steps, ends the run); the best validation weights are kept.
            Config = new FinetuneConfig
            {
                Method = "full", Lr = 3e-4, MinLr = 3e-4, WarmupSteps = 20, Epochs = 50, BatchSize = 8, SeqLen = Math.Min(256, maxPositions),
                EvalEvery = 50, Patience = 0, CheckpointEvery = 0, LoraDropout = 0,
            },
        }, cancellation);

        QuickstartVerb.Step(firstStep + 1, "chat");
        using var chat = LoadedModel.Load(chatDir);
        var answerer = new ChatAnswerer(chat);
        var greedy = new GenerationOptions { MaxTokens = 48, Temperature = 0 };
        var samples = SampleTurns(validation, questions[0].Question);
        foreach (var turn in samples) // each its own conversation: a few-million-parameter model keeps poorly to the latest turn
        {
            Console.Out.WriteLine($"you> {turn.ReplaceLineEndings("\n     ")}");
            Console.Out.WriteLine($"model> {answerer.Reply([new ChatMessage("user", turn)], greedy)}");
        }

        var choices = questions.Select(q => q.Answer).Distinct().Order(StringComparer.Ordinal).ToList();
        double chatChoice = Accuracy(questions, q => choices[answerer.Choose([new("user", q.Question)], choices)] == q.Answer);
        double chatExact = Accuracy(questions, q => answerer.Reply([new("user", q.Question)], greedy with { MaxTokens = 8 }) == q.Answer);
        double baseChoice;
        using (var baseModel = LoadedModel.Load(baseDir))
        {
            var baseAnswerer = new ChatAnswerer(baseModel);
            baseChoice = Accuracy(questions, q => choices[baseAnswerer.Choose([new("user", q.Question)], choices)] == q.Answer);
        }
        Terminal.Info(Markup.Escape($"chat: {questions.Count} held-out \"which source\" questions ({choices.Count} sources, chance {1.0 / choices.Count:P0}): "
            + $"base zero-shot {baseChoice:P1} (likeliest answer); chat model {chatChoice:P1} (likeliest answer), {chatExact:P1} (generated answer exact)"));
        Terminal.Info(Markup.Escape($"chat: instruction-tuned for {tuned.Step} steps in {tuned.TrainSeconds:F0}s, "
            + $"best validation loss {tuned.BestValidationLoss:F3} → {chatDir}. Try:"));
        Terminal.Info($"  substrate chat --model {Markup.Escape(chatDir)}");
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
