using Substrate.Inference.Tests;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Evaluation.Tests;

public class TaskEvaluatorTests
{
    private static readonly ByteTokenizer Tokenizer = new();

    private static LlamaForCausalLM Model()
    {
        manual_seed(7);
        var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = 258, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 64, MaxPositionEmbeddings = 128, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        });
        using (no_grad()) foreach (var p in model.parameters()) p.mul_(5);
        model.eval();
        return model;
    }

    /// <summary>Σ log p over the continuation bytes, from one full forward pass — the reference.</summary>
    private static double Reference(LlamaForCausalLM model, string context, string continuation)
    {
        var ids = Tokenizer.Encode(context + continuation, addSpecialTokens: true);
        int first = Tokenizer.Encode(context, addSpecialTokens: true).Length;
        using var _ = no_grad();
        using var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]));
        using var logProbs = logits[0].log_softmax(-1);
        double sum = 0;
        for (int t = first; t < ids.Length; t++) sum += logProbs[t - 1, ids[t]].item<float>();
        return sum;
    }

    [Fact]
    public void LogLikelihoodIsTheSumOverContinuationTokens()
    {
        using var model = Model();
        var evaluator = new TaskEvaluator(model, Tokenizer);
        Assert.Equal(Reference(model, "The cat", " sat"), evaluator.LogLikelihood("The cat", " sat"), 4);
        Assert.Equal(Reference(model, "Q: a?\nA:", " yes"), evaluator.LogLikelihood("Q: a?\nA:", " yes"), 4);
    }

    [Fact]
    public void AccAndAccNormFollowTheHarness()
    {
        using var model = Model();
        var evaluator = new TaskEvaluator(model, Tokenizer);
        var items = new List<TaskItem>();
        string[] queries = ["The cat", "A dog", "We like", "It is"];
        string[] choices = [" sat", " ran far away", " x"];
        int expectedAcc = 0, expectedNorm = 0;
        foreach (var (q, gold) in queries.Select((q, i) => (q, i % 3)))
        {
            items.Add(new TaskItem(q, choices, gold, null, []));
            var scores = choices.Select(c => Reference(model, q, c)).ToList();
            expectedAcc += scores.IndexOf(scores.Max()) == gold ? 1 : 0;
            var norm = scores.Select((s, k) => s / choices[k].Length).ToList();
            expectedNorm += norm.IndexOf(norm.Max()) == gold ? 1 : 0;
        }
        var result = evaluator.Evaluate(new EvalTask("t", items));
        Assert.Equal(expectedAcc / 4.0, result.Acc);
        Assert.Equal(expectedNorm / 4.0, result.AccNorm);
        Assert.Equal(4, result.Items);
    }

    [Fact]
    public void FewShotPromptsUseOtherSolvedItems()
    {
        var task = new EvalTask("t", [
            new("1+1=", ["2", "3"], 0, null, []), new("2+2=", ["4", "5"], 0, null, []), new("3+3=", ["7", "6"], 1, null, [])]);
        var shots = TaskEvaluator.FewShot(task, 0, 2, 1);
        Assert.DoesNotContain("1+1=", shots);
        Assert.Contains("2+2=4\n\n", shots);
        Assert.Contains("3+3=6\n\n", shots);
        Assert.Equal("", TaskEvaluator.FewShot(task, 0, 0, 1));
    }

    [Fact]
    public void ABackgroundStandsBetweenTheExamplesAndTheQuery()
    {
        var task = new EvalTask("t", [new("1+1=", ["2", "3"], 0, null, []), new("2+2=", ["4", "5"], 0, null, [])]);
        Assert.Equal("2+2=4\n\nfacts: 1+1 is 2\n\n1+1=", TaskEvaluator.Context(task, 0, 1, 1, "facts: 1+1 is 2\n\n"));
        Assert.Equal("2+2=", TaskEvaluator.Context(task, 1, 0, 1));
    }

    [Fact]
    public void AnItemIsScoredAfterItsBackground()
    {
        using var model = Model();
        var evaluator = new TaskEvaluator(model, Tokenizer);
        // The greedy words after background + query are an exact match by definition; after the query alone they differ.
        const string background = "Zq 7 uu\n\n", query = "Hello";
        var options = new Substrate.Inference.GenerationOptions { MaxTokens = 32, Temperature = 0, StopStrings = ["e"] };
        var said = string.Concat(new Substrate.Inference.Generator(model, Tokenizer).Stream(background + query, options));
        var alone = string.Concat(new Substrate.Inference.Generator(model, Tokenizer).Stream(query, options));
        Assert.NotEqual(alone, said);
        var task = new EvalTask("g", [new(query, null, 0, said, ["e"])]);
        Assert.Equal(1.0, evaluator.Evaluate(task, backgrounds: [background]).ExactMatch);
        Assert.Equal(0.0, evaluator.Evaluate(task).ExactMatch);
    }

    [Fact]
    public void GenerationIsScoredByExactMatchUpToTheStopString()
    {
        using var model = Model();
        var evaluator = new TaskEvaluator(model, Tokenizer);
        // What the model says greedily after "Hello" up to the first 'e' is by definition an exact match.
        var said = string.Concat(new Substrate.Inference.Generator(model, Tokenizer).Stream("Hello", new Substrate.Inference.GenerationOptions { MaxTokens = 32, Temperature = 0, StopStrings = ["e"] }));
        var task = new EvalTask("g", [new("Hello", null, 0, said, ["e"]), new("Hello", null, 0, said + "zzz", ["e"])]);
        Assert.Equal(0.5, evaluator.Evaluate(task).ExactMatch);
    }

    [Fact]
    public void TaskFilesAreReadWithClearErrors()
    {
        var path = Path.Combine(Path.GetTempPath(), $"substrate-task-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(path, """{"query":"q","choices":["a","b"],"gold":1}""" + "\n");
            Assert.True(EvalTask.Load(path).IsMultipleChoice);
            File.WriteAllText(path, """{"query":"q","choices":["a","b"],"gold":2}""" + "\n");
            Assert.Contains($"{path}:1", Assert.Throws<InvalidDataException>(() => EvalTask.Load(path)).Message);
            Assert.Throws<FileNotFoundException>(() => EvalTask.Load("no-such-task", []));
        }
        finally { File.Delete(path); }
    }
}
