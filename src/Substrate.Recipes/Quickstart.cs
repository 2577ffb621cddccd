using Substrate.Data;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.IO;
using Substrate.Tokenizers.Training;
using Substrate.Training;

namespace Substrate.Recipes;

/// <summary>What <see cref="Quickstart.Run"/> reads and writes.</summary>
public sealed record QuickstartOptions
{
    /// <summary>A corpus folder with <c>train.jsonl.gz</c> and <c>validation.jsonl.gz</c> (<see cref="BundledCorpus.Find"/>: the bundled one).</summary>
    public required string Corpus { get; init; }
    /// <summary>The work folder: <c>tokenizer/</c>, <c>data/</c>, <c>model/</c> are replaced by each run.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>The pretraining time budget the plan sizes the model for.</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromMinutes(4);
    public int VocabSize { get; init; } = 4096;
    /// <summary>The prompt of the generated sample.</summary>
    public string Prompt { get; init; } = "The ship";
    /// <summary>The batch shape the plan measures and pretraining uses.</summary>
    public int BatchSize { get; init; } = 8;
    public int SeqLen { get; init; } = 256;
    /// <summary>libtorch threads (0: one per core).</summary>
    public int Threads { get; init; }
}

/// <summary>How a quickstart went: the model folder, the plan it followed and its scores.</summary>
public sealed record QuickstartResult(string ModelDirectory, ComputePlan Plan, PretrainResult Pretrain, PerplexityResult Perplexity, string Sample);

/// <summary>
/// The whole loop on a corpus, in minutes: tokenizer → token shards → compute-optimal plan for the time budget →
/// pretraining → validation perplexity → a generated sample. Read top to bottom; <see cref="QuickstartChat"/> then makes a
/// chat model of the result.
/// </summary>
public static class Quickstart
{
    static readonly GenerationOptions SampleOptions = new()
    {
        MaxTokens = 80, Temperature = 0.8, TopK = 40, TopP = 0.95, RepetitionPenalty = 1.1, Seed = 42,
    };

    public static QuickstartResult Run(QuickstartOptions options, IQuickstartReport report, CancellationToken cancellation = default)
    {
        string trainFile = Path.Combine(options.Corpus, BundledCorpus.TrainFile);
        if (!File.Exists(trainFile)) throw new FileNotFoundException($"corpus has no {BundledCorpus.TrainFile}: {options.Corpus}");
        if (options.Budget <= TimeSpan.Zero) throw new ArgumentException("the pretraining budget must be positive");
        string output = options.OutputDirectory;
        string tokenizerDir = Path.Combine(output, "tokenizer"), dataDir = Path.Combine(output, "data"), modelDir = Path.Combine(output, "model");
        // A quickstart always starts from scratch: a previous run's folders are replaced.
        foreach (var dir in new[] { tokenizerDir, dataDir, modelDir })
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);

        report.Stage(1, "tokenizer");
        var tokenizer = report.Progress("tokenizer", update => BpeCorpusTraining.Run([trainFile], new BpeTrainerOptions
        {
            VocabSize = options.VocabSize,
            Progress = p => { var (status, fraction) = BpeCorpusTraining.Status(p); update(status, fraction); },
        }, tokenizerDir));
        report.Line($"tokenizer: {tokenizer.Summary}");

        report.Stage(2, "data");
        var meta = report.Progress("data", update => DataPreparer.Prepare(tokenizerDir,
            new DataPrepareOptions { Inputs = [options.Corpus], OutputDirectory = dataDir, ValidationEvery = 100 },
            new InlineProgress<DataPrepareProgress>(p => update(DataPreparer.Status(p), null)), cancellation));
        foreach (var line in DataPreparer.Summary(meta)) report.Line($"data: {line}");

        report.Stage(3, "plan");
        report.Line($"plan: measuring training speed of candidate shapes (batch {options.BatchSize} × {options.SeqLen})…");
        var plan = ComputePlanner.PlanForThisMachine(options.Budget, meta.VocabSize, options.BatchSize, options.SeqLen,
            progress: new InlineProgress<CandidateMeasurement>(m => report.Line($"plan:   {m.Summary}")), threads: options.Threads);
        report.Line($"plan: {plan.Summary}");
        report.Line($"plan: {plan.Reason}");

        report.Stage(4, "pretrain");
        var pretrained = Pretrain(plan, dataDir, modelDir, options, report, cancellation);

        report.Stage(5, "evaluate");
        using var loaded = LoadedModel.Load(modelDir);
        var perplexity = HeldOutPerplexity.Evaluate(loaded, dataDir, DataPreparer.ValidationSplit, maxTokens: 50_000);
        report.Line($"eval: {perplexity.Summary}");

        report.Stage(6, "generate");
        report.Line($"prompt: {options.Prompt}");
        string sample = Sample(loaded, options.Prompt, report);

        report.Line($"quickstart: a {plan.Parameters / 1e6:F2}M-parameter model trained on {pretrained.TokensSeen:N0} tokens: "
            + $"validation loss {TrainProgress.Format(pretrained.FinalValidationLoss)}, perplexity {perplexity.Perplexity:F1} → {modelDir}");
        return new QuickstartResult(modelDir, plan, pretrained, perplexity, sample);
    }

    /// <summary>The planned model for the planned steps, bounded by the budget and a quarter more for a slower machine.</summary>
    static PretrainResult Pretrain(ComputePlan plan, string dataDir, string modelDir, QuickstartOptions options, IQuickstartReport report,
        CancellationToken cancellation)
    {
        var train = plan.ApplyTo(new TrainConfig()) with { EvalEvery = Math.Max(25, plan.Steps / 8), CheckpointEvery = Math.Max(50, plan.Steps / 4) };
        var pretrain = new PretrainOptions
        {
            DataDirectory = dataDir, OutputDirectory = modelDir, Resolved = new PretrainConfig(plan.Model, train),
            TimeLimit = options.Budget * 1.25, Threads = options.Threads,
        };
        report.Config("config", Pretrainer.ResolveConfig(pretrain).ToJson());
        var result = report.Progress("pretrain", update => Pretrainer.Run(pretrain,
            TrainProgress.Reporter(line => report.Line($"pretrain: {line}"), update), cancellation));
        report.Line($"pretrain: {result.Summary}");
        return result;
    }

    static string Sample(LoadedModel loaded, string prompt, IQuickstartReport report)
    {
        var stats = new GenerationStats();
        var text = new System.Text.StringBuilder();
        foreach (var piece in loaded.CreateGenerator().Stream(prompt, SampleOptions, stats))
        {
            report.Text(piece);
            text.Append(piece);
        }
        report.Text("\n");
        double seconds = (stats.PrefillTime + stats.DecodeTime).TotalSeconds;
        report.Line($"generate: {stats.GeneratedTokens} tokens in {seconds:F2}s ({stats.GeneratedTokens / Math.Max(seconds, 1e-9):F1} tok/s)");
        return text.ToString();
    }
}
