using Substrate.Data.Instructions;
using Substrate.Models;
using Substrate.Training.Finetuning;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

/// <summary>A packed batch trains exactly as its examples would one by one: same summed loss, same gradients.</summary>
public class PackedBatchTests
{
    /// <summary>A random example of <paramref name="length"/> ids whose first <paramref name="prompt"/> targets are not trained.</summary>
    internal static SupervisedExample Example(int seed, int length, int prompt)
    {
        var random = new Random(seed);
        return new SupervisedExample(Enumerable.Range(0, length).Select(_ => random.Next(1, 60)).ToArray(),
            Enumerable.Range(0, length).Select(t => t >= prompt).ToArray(), $"example {seed}");
    }

    [Theory]
    [InlineData(AttentionImplementation.Eager)]
    [InlineData(AttentionImplementation.Fused)]
    public void PackedLossAndGradientsEqualTheSumOverExamples(AttentionImplementation attention)
    {
        manual_seed(7);
        using var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 64, MaxPositionEmbeddings = 32, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        }, new ModelOptions { Attention = attention });
        SupervisedExample[] examples = [Example(1, 9, 3), Example(2, 6, 2), Example(3, 11, 5), Example(4, 5, 1)];
        const int T = 24;
        var packed = new PackedRows(examples, T, padId: 0);
        Assert.True(packed.Count < examples.Length, "the examples should share rows");

        (double Loss, Tensor[] Grads) LossAndGrads(PackedRows rows, bool withSegments)
        {
            model.zero_grad();
            double total = 0;
            for (int r = 0; r < rows.Count; r++)
            {
                using var scope = NewDisposeScope();
                long[] x = new long[T], y = new long[T], z = new long[T];
                rows.Fill(r, x, y, z);
                var logits = SupervisedBatches.Logits(model, x, withSegments ? z : null, 1, T, CPU); // (1, T, V)
                var (sum, _) = SupervisedBatches.MaskedLoss(logits, y, CPU);
                sum.backward();
                total += sum.item<float>();
            }
            return (total, model.parameters().Select(p => p.grad!.clone()).ToArray());
        }

        var (packedLoss, packedGrads) = LossAndGrads(packed, withSegments: true);
        double separateLoss = 0;
        var separateGrads = packedGrads.Select(g => zeros_like(g)).ToArray();
        foreach (var e in examples)
        {
            var (loss, grads) = LossAndGrads(new PackedRows([e], T, padId: 0, pack: false), withSegments: false);
            separateLoss += loss;
            for (int i = 0; i < grads.Length; i++) separateGrads[i].add_(grads[i]);
        }
        Assert.Equal(separateLoss, packedLoss, 3);
        for (int i = 0; i < packedGrads.Length; i++)
            Assert.True(packedGrads[i].allclose(separateGrads[i], rtol: 1e-4, atol: 1e-5),
                $"parameter {i}: max diff {(packedGrads[i] - separateGrads[i]).abs().max().item<float>()}");

        // The attention mask matters: without segment ids the packed rows give another loss.
        var (leaky, _) = LossAndGrads(packed, withSegments: false);
        Assert.NotEqual(separateLoss, leaky, 3);
    }

    [Fact]
    public void SegmentsNumberTheExamplesAndThePadding()
    {
        var rows = new PackedRows([new SupervisedExample([1, 2, 3], [false, true, true], "a"), new SupervisedExample([4, 5], [false, true], "b")], 8, padId: 0);
        long[] x = new long[8], y = new long[8], z = new long[8];
        rows.Fill(0, x, y, z);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 0, 0, 0 }, x);
        Assert.Equal(new long[] { 0, 0, 0, 1, 1, 2, 2, 2 }, z);
        Assert.Equal(new long[] { 2, 3, PackedRows.Ignore, 5, PackedRows.Ignore, PackedRows.Ignore, PackedRows.Ignore, PackedRows.Ignore }, y);
    }
}
