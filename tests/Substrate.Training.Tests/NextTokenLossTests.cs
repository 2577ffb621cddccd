using Substrate.Data.Instructions;
using Substrate.Models;
using Substrate.Training.Finetuning;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

/// <summary>Fine-tuning's masked loss: the fused CPU pass and libtorch's cross_entropy give the same loss and gradients.</summary>
public class NextTokenLossTests
{
    [Fact]
    public void FusedAndPlainMaskedLossesAgreeOnATinyModel()
    {
        var rows = new PackedRows([PackedBatchTests.Example(1, 9, 3), PackedBatchTests.Example(2, 6, 2), PackedBatchTests.Example(3, 11, 5),
            PackedBatchTests.Example(4, 5, 1)], 16, padId: 0);
        const int B = 2, T = 16;
        var x = new long[B * T];
        var y = new long[B * T];
        var z = new long[B * T];
        for (int b = 0; b < B; b++) rows.Fill(b % rows.Count, x.AsSpan(b * T, T), y.AsSpan(b * T, T), z.AsSpan(b * T, T));
        long count = y.Count(t => t != PackedRows.Ignore);
        Assert.True(count > 0 && count < B * T, "some targets are masked");

        var (fusedLoss, fusedGrads) = LossAndGrads(fused: true);
        var (plainLoss, plainGrads) = LossAndGrads(fused: false);
        Assert.Equal(plainLoss, fusedLoss, 1e-5);
        foreach (var (f, p) in fusedGrads.Zip(plainGrads))
            Assert.True(f.allclose(p, rtol: 1e-4, atol: 1e-7), $"max gradient difference {(f - p).abs().max().item<float>()}");

        (double Loss, Tensor[] Grads) LossAndGrads(bool fused)
        {
            manual_seed(7);
            using var model = new LlamaForCausalLM(new ModelConfig
            {
                VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
                IntermediateSize = 64, MaxPositionEmbeddings = 32, RmsNormEps = 1e-5, TieWordEmbeddings = true,
            });
            using var loss = new NextTokenLoss { Fused = fused };
            var logits = SupervisedBatches.TrainingLogits(model, x, z, B, T, model.Options.Device); // (B·T, V) fp32
            double value = loss.MaskedBackward(logits, y, count).to(ScalarType.Float64).item<double>();
            return (value, model.parameters().Select(p => p.grad!.detach().clone()).ToArray());
        }
    }
}
