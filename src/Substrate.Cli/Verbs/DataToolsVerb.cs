using System.CommandLine;
using Substrate.Agents.Evaluation;
using Substrate.IO;
using Substrate.Recipes;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate data tools --out dir</c>: the tool-use data set (<see cref="ToolTaskFiles"/>) from the corpus.</summary>
public static class DataToolsVerb
{
    public static Command Build()
    {
        var corpus = new Option<string?>("--corpus") { Description = "The corpus folder or files (default: the bundled data/corpus)." };
        var output = new Option<string>("--out") { Description = "Folder for lookup.tsv, train.jsonl, validation.jsonl, heldout.jsonl.", Required = true };
        var train = new Option<int>("--train") { Description = "Training tasks (a twentieth become validation chats).", DefaultValueFactory = _ => 3000 };
        var heldOut = new Option<int>("--heldout") { Description = "Held-out agent tasks.", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var system = new Option<string?>("--system") { Description = "The system instructions of the chats (default: the agent's)." };
        var command = new Command("tools", "Make a tool-use fine-tuning set (calculator and lookup tasks, in the chat format) and held-out agent tasks.")
        {
            corpus, output, train, heldOut, seed, system,
        };
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            var files = CorpusFiles.Expand([parsed.GetValue(corpus) ?? BundledCorpus.Find()]);
            if (files.Count == 0) throw new FileNotFoundException("no corpus files (.jsonl, .txt, .gz) in --corpus");
            var options = new ToolTaskOptions { Train = parsed.GetValue(train), HeldOut = parsed.GetValue(heldOut), Seed = parsed.GetValue(seed) };
            var result = await ToolTaskFiles.WriteAsync(files, parsed.GetValue(output)!, options, parsed.GetValue(system), cancellation);
            Console.Error.WriteLine($"data tools: {result.Summary}");
            return 0;
        });
        return command;
    }
}
