using System.Diagnostics;
using System.Text.Json;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Models;
using Substrate.Training;
using Substrate.Training.Finetuning;

namespace Substrate.Recipes;

/// <summary>One row of the adaptation report.</summary>
public sealed record AdaptationRow(string Method, double Score, string Metric, long TrainableParameters, double TrainSeconds, long ArtifactBytes, int Shots);

/// <summary>
/// The adaptation report: one task, one base, four ways to adapt — zero-shot, few-shot (K solved examples in the
/// prompt), LoRA and full fine-tuning on the task's training half — scored on the same held-out half.
/// The task's items are split by position: even items train (query → gold choice / answer as prompt/completion),
/// odd items evaluate.
/// </summary>
public static class AdaptationComparison
{
    public static List<AdaptationRow> Run(string modelDirectory, EvalTask task, string workDirectory, int shots, FinetuneConfig lora, FinetuneConfig full,
        ModelOptions? modelOptions = null, int threads = 0, Action<string>? log = null, IProgress<TrainProgress>? trainProgress = null)
    {
        var train = new EvalTask(task.Name + "-train", task.Items.Where((_, i) => i % 2 == 0).ToList());
        var test = new EvalTask(task.Name, task.Items.Where((_, i) => i % 2 == 1).ToList());
        if (train.Items.Count < 2 || test.Items.Count < 1) throw new ArgumentException($"task '{task.Name}' has too few items ({task.Items.Count}) to split");
        Directory.CreateDirectory(workDirectory);
        var dataPath = Path.Combine(workDirectory, "train.jsonl");
        File.WriteAllLines(dataPath, train.Items.Select(item => JsonSerializer.Serialize(new
        {
            prompt = item.Query,
            completion = item.Choices is not null ? item.Choices[item.Gold] : item.Answer,
        })));

        var rows = new List<AdaptationRow>();
        (double Score, string Metric) Score(LoadedModel loaded, int k)
        {
            var r = new TaskEvaluator(loaded.Model, loaded.Tokenizer).Evaluate(test, k);
            return r.Acc is double acc ? (acc, "acc") : (r.ExactMatch!.Value, "exact_match");
        }
        using (var loaded = LoadedModel.Load(modelDirectory, modelOptions))
        {
            log?.Invoke("zero-shot");
            var (s0, m0) = Score(loaded, 0);
            rows.Add(new AdaptationRow("zero-shot", s0, m0, 0, 0, 0, 0));
            log?.Invoke($"{shots}-shot");
            // Few-shot draws its examples from the test half itself (other items), as lm-eval does from its few-shot split.
            var (s1, m1) = Score(loaded, shots);
            rows.Add(new AdaptationRow("few-shot", s1, m1, 0, 0, 0, shots));
        }
        foreach (var (name, config) in new[]
        {
            ("lora", lora with { Method = "lora", ValFraction = 0 }),
            ("full", full with { Method = "full", ValFraction = 0 }),
        })
        {
            log?.Invoke($"{name} fine-tuning");
            var outDir = Path.Combine(workDirectory, name);
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
            var result = Finetuner.Run(new FinetuneOptions
            {
                ModelDirectory = modelDirectory,
                DataPath = dataPath,
                OutputDirectory = outDir,
                Config = config,
                Threads = threads,
            }, trainProgress);
            using var tuned = name == "lora" ? LoadedModel.Load(modelDirectory, modelOptions, outDir) : LoadedModel.Load(outDir, modelOptions);
            var (s, m) = Score(tuned, 0);
            rows.Add(new AdaptationRow(name, s, m, result.TrainableParameters, result.TrainSeconds, result.OutputBytes, 0));
        }
        return rows;
    }
}
