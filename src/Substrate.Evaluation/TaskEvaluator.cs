using Substrate.Inference;
using Substrate.Models;
using Substrate.Tokenizers;
using static TorchSharp.torch;

namespace Substrate.Evaluation;

/// <summary>Scores of one task: acc and acc_norm (multiple choice) or exact_match (generation), over N items.</summary>
public sealed record TaskResult(string Task, string Kind, int Shots, int Items, double? Acc, double? AccNorm, double? ExactMatch, double Seconds);

/// <summary>
/// lm-evaluation-harness semantics on a Substrate model. Context = K solved examples of the same task (drawn
/// with a fixed seed, never the item itself) joined by blank lines, then the query. Multiple choice: each
/// choice's log-likelihood is the sum of log p(token) over the tokens of encode(context + choice) past
/// encode(context); acc picks the highest sum, acc_norm the highest sum per byte of the choice.
/// Generation: greedy decoding until a stop string, exact match after trimming.
/// </summary>
public sealed class TaskEvaluator(LlamaForCausalLM model, ITokenizer tokenizer)
{
    public const string ShotSeparator = "\n\n";

    /// <param name="backgrounds">Optional text put before each item's query (after the solved examples), by item index:
    /// retrieved passages for a retrieval-augmented run.</param>
    public TaskResult Evaluate(EvalTask task, int shots = 0, int seed = 1234, int? limit = null, IProgress<(int Done, int Total)>? progress = null,
        IReadOnlyList<string>? backgrounds = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int n = Math.Min(limit ?? task.Items.Count, task.Items.Count);
        int correct = 0, correctNorm = 0, exact = 0;
        for (int i = 0; i < n; i++)
        {
            var item = task.Items[i];
            string context = Context(task, i, shots, seed, backgrounds?[i]);
            if (item.Choices is not null)
            {
                var scores = item.Choices.Select(c => LogLikelihood(context, c)).ToList();
                int best = Enumerable.Range(0, scores.Count).MaxBy(k => scores[k]);
                int bestNorm = Enumerable.Range(0, scores.Count).MaxBy(k => scores[k] / Math.Max(1, System.Text.Encoding.UTF8.GetByteCount(item.Choices[k])));
                correct += best == item.Gold ? 1 : 0;
                correctNorm += bestNorm == item.Gold ? 1 : 0;
            }
            else if (Generate(context, item.Until).Trim() == item.Answer!.Trim()) exact++;
            progress?.Report((i + 1, n));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        return task.IsMultipleChoice
            ? new TaskResult(task.Name, "multiple_choice", shots, n, (double)correct / n, (double)correctNorm / n, null, seconds)
            : new TaskResult(task.Name, "generation", shots, n, null, null, (double)exact / n, seconds);
    }

    /// <summary>What the model reads before an item's answer: K solved examples, the item's background (if any), its query.</summary>
    public static string Context(EvalTask task, int index, int shots, int seed, string? background = null) =>
        FewShot(task, index, shots, seed) + background + task.Items[index].Query;

    /// <summary>K solved items other than <paramref name="index"/>, chosen by (seed, index), each followed by a blank line.</summary>
    public static string FewShot(EvalTask task, int index, int shots, int seed)
    {
        if (shots <= 0) return "";
        var pool = Enumerable.Range(0, task.Items.Count).Where(k => k != index).ToArray();
        new Random(seed + index).Shuffle(pool);
        return string.Concat(pool.Take(shots).Select(k => Solved(task.Items[k]) + ShotSeparator));
    }

    private static string Solved(TaskItem item) => item.Choices is not null
        ? item.Query + item.Choices[item.Gold]
        : item.Query + item.Answer + (item.Until.Count > 0 && item.Until[0] != "\n" ? item.Until[0] : "");

    /// <summary>Σ log p(continuation tokens | context); the context is cut from the left to fit the model (see <see cref="SequenceLikelihood"/>).</summary>
    public double LogLikelihood(string context, string continuation)
    {
        var contextIds = tokenizer.Encode(context, addSpecialTokens: true);
        var wholeIds = tokenizer.Encode(context + continuation, addSpecialTokens: true);
        int shared = 0;
        while (shared < Math.Min(contextIds.Length, wholeIds.Length) && contextIds[shared] == wholeIds[shared]) shared++;
        shared = Math.Max(1, Math.Min(shared, wholeIds.Length - 1)); // at least one context token, one continuation token
        return SequenceLikelihood.Sum(model, wholeIds, Enumerable.Range(shared, wholeIds.Length - shared));
    }

    private string Generate(string context, IReadOnlyList<string> until)
    {
        var options = new GenerationOptions { MaxTokens = 32, Temperature = 0, StopStrings = until.Where(s => s.Length > 0).ToList() };
        var ids = tokenizer.Encode(context, addSpecialTokens: true);
        int room = model.Config.MaxPositionEmbeddings - options.MaxTokens;
        if (ids.Length > room) ids = ids[^room..];
        return string.Concat(new Substrate.Inference.Generator(model, tokenizer).Stream(ids, options));
    }
}
