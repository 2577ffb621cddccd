using System.CommandLine;
using Spectre.Console;
using Substrate.IO;
using Substrate.Training;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate plan --minutes M</c>: compute-optimal model size and token budget for this machine.</summary>
public static class PlanVerb
{
    public static Command Build()
    {
        var minutes = new Option<double>("--minutes") { Description = "Training time budget in minutes.", Required = true };
        var vocabSize = new Option<int>("--vocab-size")
        {
            Description = "Vocabulary size of the tokenizer you will train with.",
            DefaultValueFactory = _ => 8192,
        };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8 };
        var seqLen = new Option<int>("--seq-len") { DefaultValueFactory = _ => 256 };
        var command = new Command(
            "plan",
            "Measure this machine's training speed and propose a compute-optimal model and token budget (Chinchilla: ~20 tokens per parameter).")
        {
            minutes, vocabSize, batchSize, seqLen,
        };
        command.SetAction((ParseResult parsed) =>
        {
            var plan = Plan(TimeSpan.FromMinutes(parsed.GetValue(minutes)), parsed.GetValue(vocabSize), parsed.GetValue(batchSize), parsed.GetValue(seqLen));
            Console.Out.WriteLine("--set " + string.Join(' ', plan.Overrides));
            return 0;
        });
        return command;
    }

    /// <summary>Measures candidates, prints the table and the choice on stderr.</summary>
    static ComputePlan Plan(TimeSpan budget, int vocabSize, int batchSize = 8, int seqLen = 256)
    {
        if (budget <= TimeSpan.Zero) throw new ArgumentException("--minutes must be positive");
        if (vocabSize < 256) throw new ArgumentException("--vocab-size must be at least 256");
        Terminal.Info($"plan: measuring training speed of candidate shapes (batch {batchSize} × {seqLen})…");
        var plan = ComputePlanner.PlanForThisMachine(budget, vocabSize, batchSize, seqLen,
            progress: new InlineProgress<CandidateMeasurement>(m => Terminal.Info(Markup.Escape($"plan:   {m.Summary}"))));
        var table = new Table().AddColumns("model", "parameters", "tokens/s", "token budget", "steps", "tokens/param");
        table.AddRow(plan.Name, $"{plan.Parameters / 1e6:F2}M", $"{plan.TokensPerSecond:N0}",
            $"{plan.TokenBudget:N0}", $"{plan.Steps:N0}", $"{plan.TokensPerParameter:F1}");
        Terminal.Err.Write(table);
        Terminal.Info($"plan: {Markup.Escape(plan.Reason)}");
        return plan;
    }
}
