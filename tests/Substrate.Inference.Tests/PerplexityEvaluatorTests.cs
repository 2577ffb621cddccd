using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

public class PerplexityEvaluatorTests
{
    private static readonly int[] Tokens = Enumerable.Range(0, 150).Select(i => (i * 37 + i / 7) % 258).ToArray();

    /// <summary>Reference: one forward over tokens[..n-1], mean NLL of tokens[1..n].</summary>
    private static double DirectMeanNll(Substrate.Models.LlamaForCausalLM model, int[] tokens)
    {
        using var scope = NewDisposeScope();
        var input = tensor(tokens[..^1].Select(i => (long)i).ToArray(), [1, tokens.Length - 1]);
        var target = tensor(tokens[1..].Select(i => (long)i).ToArray());
        using var logits = model.call(input);
        return nn.functional.cross_entropy(logits[0], target).item<float>();
    }

    [Fact]
    public void OneWindowEqualsTheDirectComputation()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var tokens = Tokens[..40];
        var result = new PerplexityEvaluator(model).Evaluate(tokens);
        Assert.Equal(39, result.Tokens);
        Assert.Equal(DirectMeanNll(model, tokens), result.MeanNll, 1e-5);
        Assert.Equal(Math.Exp(result.MeanNll), result.Perplexity, 1e-9);
    }

    [Fact]
    public void WindowsScoreEveryTokenOnceAndBatchingChangesNothing()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var batched = new PerplexityEvaluator(model, contextLength: 32, batchSize: 3).Evaluate(Tokens);
        var single = new PerplexityEvaluator(model, contextLength: 32, batchSize: 1).Evaluate(Tokens);
        Assert.Equal(149, batched.Tokens);
        Assert.Equal(single.MeanNll, batched.MeanNll, 1e-5);

        // non-overlapping windows of 32 == the mean of the direct computation over each chunk
        double sum = 0;
        for (var begin = 0; begin < 149; begin += 32)
        {
            var chunk = Tokens[begin..Math.Min(begin + 33, 150)];
            sum += DirectMeanNll(model, chunk) * (chunk.Length - 1);
        }
        Assert.Equal(sum / 149, batched.MeanNll, 1e-5);

        var strided = new PerplexityEvaluator(model, contextLength: 32, stride: 8, batchSize: 4).Evaluate(Tokens);
        Assert.Equal(149, strided.Tokens);
        Assert.NotEqual(batched.MeanNll, strided.MeanNll, 6);
        Assert.InRange(strided.Perplexity, 1, 1e6);
    }
}
