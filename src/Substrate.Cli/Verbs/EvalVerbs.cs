using System.CommandLine;
using System.Text.Json;
using Substrate.Data;
using Substrate.IO;
using Substrate.Inference;
using Substrate.Tokenizers;

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
            using var loaded = LoadedModel.Load(parsed.GetValue(model)!, runtime.Start(parsed), parsed.GetValue(adapter));
            var result = Perplexity(loaded, parsed.GetValue(data)!, parsed.GetValue(split)!, parsed.GetValue(maxTokens), parsed.GetValue(stride));
            Console.Out.WriteLine(JsonSerializer.Serialize(new { tokens = result.Tokens, mean_nll = result.MeanNll, perplexity = result.Perplexity }));
            return 0;
        });
        return command;
    }

    /// <summary>Shared with quickstart.</summary>
    public static PerplexityResult Perplexity(LoadedModel loaded, string data, string split, long maxTokens = 0, int? stride = null)
    {
        var tokens = ReadTokens(loaded, data, split);
        if (maxTokens > 0 && tokens.Count > maxTokens) tokens = tokens.GetRange(0, (int)maxTokens);
        if (tokens.Count < 2) throw new ArgumentException($"{data}: not enough tokens to evaluate ({tokens.Count})");
        var result = new PerplexityEvaluator(loaded.Model, stride: stride).Evaluate(tokens);
        Terminal.Info($"eval: {result.Tokens:N0} tokens, mean NLL {result.MeanNll:F4}, perplexity [bold]{result.Perplexity:F2}[/]");
        return result;
    }

    static List<int> ReadTokens(LoadedModel loaded, string data, string split)
    {
        if (Directory.Exists(data) && File.Exists(Path.Combine(data, TokenShardMeta.FileName)))
        {
            using var dataset = TokenDataset.Open(data, split);
            if (dataset.Meta.VocabSize > loaded.Model.Config.VocabSize)
                throw new ArgumentException($"{data} was tokenized with {dataset.Meta.VocabSize} tokens but the model has {loaded.Model.Config.VocabSize}");
            return dataset.ReadAll().Select(id => (int)id).ToList();
        }
        // Plain text: documents separated by EOS, as in pretraining.
        var tokens = new List<int>();
        int? eos = loaded.Tokenizer.Special.Eos;
        foreach (var document in CorpusFiles.ReadDocuments([data]))
        {
            tokens.AddRange(loaded.Tokenizer.Encode(document));
            if (eos is int id) tokens.Add(id);
        }
        return tokens;
    }
}
