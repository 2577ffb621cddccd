using System.Text.Json;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Models;
using Substrate.Training;
using Substrate.Training.Finetuning;

namespace Substrate.Recipes;

/// <summary>One row of the adaptation report: the score, what adapting cost (trainable parameters, seconds and tokens of
/// training, the artifact's bytes) and what each query costs (mean prompt tokens the model reads before the answer,
/// mean milliseconds to score it, retrieval included).</summary>
public sealed record AdaptationRow(string Method, double Score, string Metric, long TrainableParameters, double TrainSeconds, long ArtifactBytes, int Shots,
    long TrainTokens = 0, double PromptTokens = 0, double QueryMilliseconds = 0);

/// <summary>
/// The adaptation report: one task, one base, the ways to adapt — zero-shot, few-shot (K solved examples in the
/// prompt), retrieval (the top passages of a knowledge source before the query, alone and with the K examples), LoRA
/// and full fine-tuning on the task's training half — scored on the same held-out half by the same rule.
/// The task's items are split by position: even items train (query → gold choice / answer as prompt/completion),
/// odd items evaluate.
/// </summary>
public static class AdaptationComparison
{
    public static List<AdaptationRow> Run(string modelDirectory, EvalTask task, string workDirectory, int shots, FinetuneConfig lora, FinetuneConfig full,
        ModelOptions? modelOptions = null, int threads = 0, Action<string>? log = null, IProgress<TrainProgress>? trainProgress = null,
        RetrievalArmOptions? retrieval = null)
    {
        var train = new EvalTask(task.Name + "-train", task.Items.Where((_, i) => i % 2 == 0).ToList());
        var test = new EvalTask(task.Name, task.Items.Where((_, i) => i % 2 == 1).ToList());
        if (train.Items.Count < 2 || test.Items.Count < 1) throw new ArgumentException($"task '{task.Name}' has too few items ({task.Items.Count}) to split");
        retrieval?.Validate();
        Directory.CreateDirectory(workDirectory);
        var dataPath = Path.Combine(workDirectory, "train.jsonl");
        File.WriteAllLines(dataPath, train.Items.Select(item => JsonSerializer.Serialize(new
        {
            prompt = item.Query,
            completion = item.Choices is not null ? item.Choices[item.Gold] : item.Answer,
        })));

        var rows = new List<AdaptationRow>();
        using (var loaded = LoadedModel.Load(modelDirectory, modelOptions))
        {
            log?.Invoke("zero-shot");
            rows.Add(Score(loaded, test, "zero-shot", 0));
            log?.Invoke($"{shots}-shot");
            // Few-shot draws its examples from the test half itself (other items), as lm-eval does from its few-shot split.
            rows.Add(Score(loaded, test, "few-shot", shots));
            if (retrieval is not null)
            {
                var passages = RetrievalArm.Retrieve(retrieval, test, workDirectory, log);
                log?.Invoke("retrieval");
                rows.Add(Score(loaded, test, "rag", 0, passages));
                log?.Invoke($"retrieval + {shots}-shot");
                rows.Add(Score(loaded, test, "rag+few-shot", shots, passages));
            }
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
            rows.Add(Score(tuned, test, name, 0) with
            {
                TrainableParameters = result.TrainableParameters, TrainSeconds = result.TrainSeconds, ArtifactBytes = result.OutputBytes,
                TrainTokens = result.TokensSeen,
            });
        }
        return rows;
    }

    /// <summary>Scores the test half with K examples (and retrieved passages), and measures the mean prompt of a query
    /// (tokens of everything before the answer, as the evaluator builds it) and its mean latency (scoring plus search).</summary>
    static AdaptationRow Score(LoadedModel loaded, EvalTask test, string method, int shots, RetrievedPassages? passages = null)
    {
        const int seed = 1234;
        var r = new TaskEvaluator(loaded.Model, loaded.Tokenizer).Evaluate(test, shots, seed, backgrounds: passages?.Backgrounds);
        int n = test.Items.Count;
        double promptTokens = Enumerable.Range(0, n)
            .Average(i => loaded.Tokenizer.Encode(TaskEvaluator.Context(test, i, shots, seed, passages?.Backgrounds[i]), addSpecialTokens: true).Length);
        double milliseconds = 1000 * (r.Seconds + (passages?.Seconds ?? 0)) / n;
        var (score, metric) = r.Acc is double acc ? (acc, "acc") : (r.ExactMatch!.Value, "exact_match");
        return new AdaptationRow(method, score, metric, 0, 0, 0, shots, PromptTokens: promptTokens, QueryMilliseconds: milliseconds);
    }
}
