using System.CommandLine;
using Substrate.Data;
using Substrate.IO;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate data prepare</c>: a corpus into memory-mapped token shards.</summary>
public static class DataVerbs
{
    public static Command Build() => new("data", "Prepare training data.") { BuildPrepare(), DataToolsVerb.Build() };

    static Command BuildPrepare()
    {
        var input = new Option<string[]>("--input")
        {
            Description = "Corpus files or folders (.txt, .jsonl, .gz); files named validation* form the validation split.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var tokenizer = new Option<string>("--tokenizer") { Description = "The tokenizer folder or tokenizer.json.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for meta.json and the .bin shards.", Required = true };
        var validation = new Option<string[]>("--validation")
        {
            Description = "Validation files or folders (otherwise every Nth document is split off).",
            AllowMultipleArgumentsPerToken = true,
        };
        var every = new Option<int>("--validation-every")
        {
            Description = "Without validation files, every Nth document goes to validation (0: none).",
            DefaultValueFactory = _ => 100,
        };
        var command = new Command("prepare", "Tokenize a corpus into memory-mapped token shards plus a validation split, streaming.")
        {
            input, tokenizer, output, validation, every,
        };
        command.SetAction((ParseResult parsed) =>
        {
            Prepare(parsed.GetValue(input)!, parsed.GetValue(tokenizer)!, parsed.GetValue(output)!,
                parsed.GetValue(validation) ?? [], parsed.GetValue(every));
            return 0;
        });
        return command;
    }

    static void Prepare(IReadOnlyList<string> inputs, string tokenizerPath, string output, IReadOnlyList<string> validation, int validationEvery)
    {
        var options = new DataPrepareOptions { Inputs = inputs, ValidationInputs = validation, OutputDirectory = output, ValidationEvery = validationEvery };
        var meta = Terminal.WithProgress("data", report => DataPreparer.Prepare(tokenizerPath, options,
            new InlineProgress<DataPrepareProgress>(p => report(DataPreparer.Status(p), null))));
        foreach (var line in DataPreparer.Summary(meta)) Terminal.Info(Spectre.Console.Markup.Escape($"data: {line}"));
    }
}
