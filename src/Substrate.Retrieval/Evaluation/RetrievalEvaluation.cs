using System.Text.Json;
using Substrate.IO;
using Substrate.Retrieval.Store;

namespace Substrate.Retrieval.Evaluation;

/// <summary>A question and a text its gold passage contains (compared with runs of white space folded to one space).</summary>
public sealed record RetrievalQuestion(string Question, string Answer);

/// <summary>Recall@k: the share of questions with a gold passage in the top k; MRR: the mean of 1/rank of the first gold
/// passage in the top 10 (0 when none).</summary>
public sealed record RetrievalScores(int Questions, double RecallAt1, double RecallAt5, double RecallAt10, double Mrr);

public static class RetrievalEvaluation
{
    public const int Depth = 10;

    /// <summary>JSON lines {"question": …, "answer": …}.</summary>
    public static List<RetrievalQuestion> Read(string path) => JsonLines.Read(path).Select(r => new RetrievalQuestion(
        Field(r.Record, "question", r.Source), Field(r.Record, "answer", r.Source))).ToList();

    public static async Task<RetrievalScores> EvaluateAsync(IReadOnlyList<RetrievalQuestion> questions,
        Func<string, int, Task<List<SearchHit>>> search)
    {
        if (questions.Count == 0) throw new ArgumentException("no questions");
        int at1 = 0, at5 = 0, at10 = 0;
        double reciprocal = 0;
        foreach (var question in questions)
        {
            var answer = Fold(question.Answer);
            var hits = await search(question.Question, Depth);
            int rank = hits.FindIndex(h => Fold(h.Chunk.Text).Contains(answer, StringComparison.Ordinal)) + 1;
            if (rank == 0) continue;
            if (rank <= 1) at1++;
            if (rank <= 5) at5++;
            if (rank <= 10) at10++;
            reciprocal += 1.0 / rank;
        }
        double n = questions.Count;
        return new RetrievalScores(questions.Count, at1 / n, at5 / n, at10 / n, reciprocal / n);
    }

    static string Fold(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    static string Field(JsonElement record, string name, string source) =>
        record.ValueKind == JsonValueKind.Object && record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidDataException($"{source}: no string \"{name}\" field");
}
