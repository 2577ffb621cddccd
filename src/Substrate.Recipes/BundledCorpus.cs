namespace Substrate.Recipes;

/// <summary>Finds the corpus shipped in the repository's <c>data/corpus</c> folder.</summary>
public static class BundledCorpus
{
    public const string TrainFile = "train.jsonl.gz";
    public const string ValidationFile = "validation.jsonl.gz";

    /// <summary>The first <c>data/corpus</c> holding the train split, looking up from the working
    /// directory and from the program's own folder.</summary>
    public static string Find()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "data", "corpus");
                if (File.Exists(Path.Combine(candidate, TrainFile))) return candidate;
            }
        throw new FileNotFoundException("the bundled corpus (data/corpus/train.jsonl.gz) was not found above the working directory; pass --corpus <folder>");
    }
}
