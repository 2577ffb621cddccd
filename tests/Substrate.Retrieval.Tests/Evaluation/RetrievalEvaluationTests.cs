using Substrate.Retrieval.Evaluation;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Tests.Evaluation;

public class RetrievalEvaluationTests
{
    static SearchHit Hit(long id, string text, int rank) => new(new StoredChunk(id, "p", 0, "", text, ""), rank, 0);

    [Fact]
    public async Task RecallAndMrrCountTheFirstGoldRank()
    {
        // Gold at rank 1, rank 3, rank 7, and nowhere in the top 10.
        var ranks = new Dictionary<string, int> { ["a"] = 1, ["b"] = 3, ["c"] = 7, ["d"] = 0 };
        var questions = ranks.Keys.Select(q => new RetrievalQuestion(q, "gold  passage " + q)).ToList();
        var scores = await RetrievalEvaluation.EvaluateAsync(questions, (q, k) => Task.FromResult(Enumerable.Range(1, k)
            .Select(r => Hit(r, r == ranks[q] ? $"x gold passage\n{q} y" : "other", r)).ToList()));
        Assert.Equal(new RetrievalScores(4, 0.25, 0.5, 0.75, (1 + 1 / 3.0 + 1 / 7.0) / 4), scores);
    }
}
