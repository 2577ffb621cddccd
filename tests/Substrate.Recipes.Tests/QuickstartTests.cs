using System.IO.Compression;
using Substrate.Recipes;

namespace Substrate.Recipes.Tests;

/// <summary>
/// The quickstart recipe through the library alone, no command line: a slice of the bundled corpus, a few seconds of
/// pretraining at a tiny batch shape, then a few seconds of instruction tuning. Checks the stages, the report and the
/// folders, not quality.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QuickstartTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-quickstart-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    /// <summary>Records what a recipe reports, in order.</summary>
    sealed class RecordingReport : IQuickstartReport
    {
        public List<string> Stages { get; } = [];
        public List<string> Lines { get; } = [];
        public List<string> Configs { get; } = [];
        public System.Text.StringBuilder Text { get; } = new();
        public int Updates { get; private set; }

        public void Stage(int number, string name) => Stages.Add($"{number}. {name}");
        public T Progress<T>(string title, Func<Action<string, double?>, T> work) => work((_, _) => Updates++);
        public void Line(string text) => Lines.Add(text);
        public void Config(string title, string json) => Configs.Add(title);
        void IQuickstartReport.Text(string piece) => Text.Append(piece);
    }

    /// <summary>A corpus folder: the bundled validation split as the training text, its first 40 documents as validation.</summary>
    string SliceCorpus()
    {
        string bundled = BundledCorpus.Find(), corpus = Path.Combine(work, "corpus");
        Directory.CreateDirectory(corpus);
        File.Copy(Path.Combine(bundled, BundledCorpus.ValidationFile), Path.Combine(corpus, BundledCorpus.TrainFile));
        using var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(bundled, BundledCorpus.ValidationFile)), CompressionMode.Decompress));
        using var writer = new StreamWriter(new GZipStream(File.Create(Path.Combine(corpus, BundledCorpus.ValidationFile)), CompressionLevel.Fastest));
        for (int i = 0; i < 40 && reader.ReadLine() is string line; i++) writer.WriteLine(line);
        return corpus;
    }

    [Fact]
    public void Quickstart_then_its_chat_stage_run_from_a_program()
    {
        var report = new RecordingReport();
        var result = Quickstart.Run(new QuickstartOptions
        {
            Corpus = SliceCorpus(), OutputDirectory = work, Budget = TimeSpan.FromSeconds(3), VocabSize = 300,
            BatchSize = 2, SeqLen = 32, Threads = 1, Prompt = "The whale",
        }, report);

        Assert.Equal(["1. tokenizer", "2. data", "3. plan", "4. pretrain", "5. evaluate", "6. generate"], report.Stages);
        Assert.True(File.Exists(Path.Combine(result.ModelDirectory, "model.safetensors")));
        Assert.True(result.Pretrain.Step > 0, result.Pretrain.Summary);
        Assert.InRange(result.Perplexity.Perplexity, 1.0, 1e4);
        Assert.Equal(result.Sample + "\n", report.Text.ToString());
        foreach (var prefix in new[] { "tokenizer: 300 tokens", "data: train: ", "data: validation: 40 documents", "plan: ", "pretrain: ", "eval: ",
                     "generate: ", "quickstart: a " })
            Assert.Contains(report.Lines, l => l.StartsWith(prefix, StringComparison.Ordinal));
        Assert.Equal(["config"], report.Configs);
        Assert.True(report.Updates > 0);

        var chatReport = new RecordingReport();
        var chat = QuickstartChat.Run(new QuickstartChatOptions
        {
            BaseDirectory = result.ModelDirectory, Instructions = QuickstartChat.FindInstructions(), OutputDirectory = Path.Combine(work, "chat"),
            Budget = TimeSpan.FromSeconds(2), FirstStage = 7, QuestionLimit = 4, Threads = 1,
        }, chatReport);
        Assert.Equal(["7. instruction tune", "8. chat"], chatReport.Stages);
        Assert.True(File.Exists(Path.Combine(chat.ChatDirectory, "model.safetensors")));
        Assert.Equal(3, chatReport.Text.ToString().Split('\n').Count(l => l.StartsWith("model> ", StringComparison.Ordinal)));
        Assert.Equal(4, chat.Questions);
        Assert.InRange(chat.ChatChoiceAccuracy, 0.0, 1.0);
        Assert.Contains(chatReport.Lines, l => l.StartsWith("chat: 4 held-out \"which source\" questions", StringComparison.Ordinal));
    }

    [Fact]
    public void A_corpus_without_a_train_split_is_refused_before_any_work()
    {
        var report = new RecordingReport();
        var error = Assert.Throws<FileNotFoundException>(() => Quickstart.Run(new QuickstartOptions { Corpus = work, OutputDirectory = work }, report));
        Assert.Contains(BundledCorpus.TrainFile, error.Message);
        Assert.Empty(report.Stages);
        Assert.Throws<FileNotFoundException>(() => QuickstartChat.CheckInstructions(work));
    }
}
