using System.CommandLine;
using System.Text.Json;
using Substrate.Data;
using Substrate.Evaluation;
using Substrate.Inference;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate eval perplexity</c> (and <c>eval tasks</c>, in EvalTasksVerb.cs).</summary>
public static class EvalVerbs
{
    public static Command Build() => new("eval", "Evaluate a model.") { BuildPerplexity(), EvalTasksVerb.Build() };

    static Command BuildPerplexity()
    {
        var model = new Option<string>("--model") { Description = "A model folder.", Required = true };
        var data = new Option<string>("--data")
        {
            Description = "A prepared data folder (its validation split) or text files (.txt, .jsonl, .gz).",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var split = new Option<string>("--split") { Description = "Split of a prepared data folder.", DefaultValueFactory = _ => DataPreparer.ValidationSplit };
        var maxTokens = new Option<long>("--max-tokens") { Description = "Evaluate at most this many tokens (0: all)." };
        var stride = new Option<int?>("--stride") { Description = "Window stride (default: the context length, i.e. non-overlapping windows)." };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var runtime = new ModelOptionFlags();
        var command = new Command("perplexity", "Mean negative log-likelihood and perplexity of a model on held-out text; prints one JSON line.")
        {
            model, adapter, data, split, maxTokens, stride,
        };
        runtime.AddTo(command);
        command.SetAction((ParseResult parsed) =>
        {
            var folder = parsed.GetValue(model)!;
            using var loaded = LoadedModel.Load(folder, runtime.StartInference(parsed, folder), parsed.GetValue(adapter));
            var result = HeldOutPerplexity.Evaluate(loaded, parsed.GetValue(data)!, parsed.GetValue(split)!,
                parsed.GetValue(maxTokens), parsed.GetValue(stride));
            Terminal.Info(Spectre.Console.Markup.Escape($"eval: {result.Summary}"));
            Console.Out.WriteLine(JsonSerializer.Serialize(new { tokens = result.Tokens, mean_nll = result.MeanNll, perplexity = result.Perplexity }));
            return 0;
        });
        return command;
    }
}
