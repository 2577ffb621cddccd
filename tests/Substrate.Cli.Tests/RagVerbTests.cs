using System.Text.Json;

namespace Substrate.Cli.Tests;

/// <summary><c>substrate rag index / search / eval</c> as a user runs them, with MiniLM embeddings.</summary>
public sealed class RagVerbTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-rag-cli-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    static JsonElement Json(string line) => JsonDocument.Parse(line).RootElement;

    [Fact]
    public void IndexSearchAndEvalAFolder()
    {
        string docs = Path.Combine(work, "docs"), store = Path.Combine(work, "docs.db");
        Directory.CreateDirectory(docs);
        File.WriteAllText(Path.Combine(docs, "tides.md"), "# Tides\n\nThe tide rises twice a day.\n\n## Moon\n\nThe moon pulls the sea.");
        File.WriteAllText(Path.Combine(docs, "bread.txt"), "Bread is baked before dawn in the village oven.");
        File.WriteAllText(Path.Combine(docs, "broken.pdf"), "not a pdf");

        var index = SubstrateProcess.Run("rag", "index", "--docs", docs, "--store", store);
        Assert.Equal(0, index.ExitCode);
        var report = Json(index.Stdout);
        Assert.Equal((2, 3), (report.GetProperty("added").GetInt32(), report.GetProperty("chunks").GetInt32()));
        Assert.Equal(Path.Combine(docs, "broken.pdf"), report.GetProperty("failed")[0].GetProperty("path").GetString());
        Assert.Contains($"error: skipped {Path.Combine(docs, "broken.pdf")}: cannot read:", index.Stderr);

        var hits = SubstrateProcess.Run("rag", "search", "--store", store, "What pulls the sea?", "--top", "2")
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Json).ToList();
        Assert.Equal(2, hits.Count);
        Assert.Equal(("The moon pulls the sea.", "Tides > Moon", 1), (hits[0].GetProperty("text").GetString(),
            hits[0].GetProperty("position").GetString(), hits[0].GetProperty("rank").GetInt32()));

        var again = Json(SubstrateProcess.Run("rag", "index", "--docs", docs, "--store", store).Stdout);
        Assert.Equal((0, 2), (again.GetProperty("added").GetInt32(), again.GetProperty("unchanged").GetInt32()));

        var questions = Path.Combine(work, "q.jsonl");
        File.WriteAllText(questions, "{\"question\": \"When is bread baked?\", \"answer\": \"before dawn\"}\n");
        var eval = SubstrateProcess.Run("rag", "eval", "--store", store, "--questions", questions).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Json).ToList();
        Assert.Equal(["vector", "bm25", "hybrid"], eval.Select(e => e.GetProperty("mode").GetString()));
        Assert.All(eval, e => Assert.Equal(1.0, e.GetProperty("recall_at_1").GetDouble()));
    }
}
