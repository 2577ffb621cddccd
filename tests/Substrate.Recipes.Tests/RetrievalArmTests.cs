using Substrate.Evaluation;
using Substrate.Retrieval.Store;

namespace Substrate.Recipes.Tests;

/// <summary>The retrieval arm of the adaptation report: the knowledge source indexed once into the work folder, each
/// item's query searched (BM25), the passages written best last before the query.</summary>
public sealed class RetrievalArmTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-rag-arm-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    string Knowledge()
    {
        var folder = Path.Combine(work, "knowledge");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "cards.txt"), "ecarte (noun): a card game for 2 players\n");
        File.WriteAllText(Path.Combine(folder, "melds.txt"), "pinochle (noun): a card game for 2 to 4 players\n");
        File.WriteAllText(Path.Combine(folder, "sea.txt"), "narwhal (noun): a small arctic whale with a long spiral tusk\n");
        return folder;
    }

    [Fact]
    public void EachItemGetsThePassagesThatHoldItsWord()
    {
        var task = new EvalTask("t", [new("narwhal (noun):", [" a whale", " a game"], 0, null, []), new("ecarte (noun):", [" a game", " a whale"], 0, null, [])]);
        var options = new RetrievalArmOptions { Sources = [Knowledge()], Mode = SearchMode.Bm25, Top = 1, ChunkTokens = 32, Overlap = 0 };

        var passages = RetrievalArm.Retrieve(options, task, work);

        Assert.Equal(["narwhal (noun): a small arctic whale with a long spiral tusk\n\n", "ecarte (noun): a card game for 2 players\n\n"],
            passages.Backgrounds);
        Assert.True(File.Exists(Path.Combine(work, "knowledge-bm25-32.db")));
        // A second run reads the same store (unchanged files are not indexed again) and retrieves the same.
        Assert.Equal(passages.Backgrounds, RetrievalArm.Retrieve(options, task, work).Backgrounds);
        // Another knowledge source in the same work folder replaces the first: nothing of sea.txt is found any more.
        var cardsOnly = options with { Sources = [Path.Combine(work, "knowledge", "cards.txt")] };
        Assert.Equal("ecarte (noun): a card game for 2 players\n\n", RetrievalArm.Retrieve(cardsOnly, task, work).Backgrounds[0]);
    }

    [Fact]
    public void PassagesAreWrittenBestLast()
    {
        Assert.Equal("third\n\nsecond\n\nbest\n\n", RetrievalArm.Background(["best", " second\n", "third"]));
    }

    [Fact]
    public void BadOptionsFailBeforeAnythingRuns()
    {
        Assert.Throws<FileNotFoundException>(() => new RetrievalArmOptions { Sources = [Path.Combine(work, "none")] }.Validate());
        Assert.Throws<ArgumentException>(() => new RetrievalArmOptions { Sources = [work], Top = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new RetrievalArmOptions { Sources = [] }.Validate());
        Assert.Throws<ArgumentException>(() => new RetrievalArmOptions { Sources = [work], ChunkTokens = 16, Overlap = 16 }.Validate());
    }
}
