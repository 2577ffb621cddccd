using Substrate.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Training.Tests;

public class FusedCrossEntropyTests
{
    [Fact]
    public void LossAndGradientMatchLibtorchCrossEntropy()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        const int N = 37, V = 1003; // odd sizes: vector tails
        var logits = (randn(N, V) * 4).requires_grad_(true);
        var targets = randint(V, [N]);
        var reference = F.cross_entropy(logits, targets);
        (reference * 0.5).backward();

        var grad = empty(N, V);
        double loss = FusedCrossEntropy.Run(logits.detach(), targets.data<long>().ToArray(), grad, scale: 0.5);
        Assert.Equal(reference.item<float>(), loss, 1e-5);
        Assert.True(grad.allclose(logits.grad!, rtol: 1e-4, atol: 1e-8));
    }

    [Fact]
    public void BFloat16LogitsGiveTheLossAndGradientOfTheirFp32Copy()
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        const int N = 29, V = 517;
        var logits = (randn(N, V) * 4).to(ScalarType.BFloat16).requires_grad_(true);
        var targets = randint(V, [N]);
        var reference = F.cross_entropy(logits.to(ScalarType.Float32), targets); // what the model did before: an fp32 copy
        (reference * 0.25).backward();                                          // its backward hands bf16 to the logits

        var grad = empty(N, V, ScalarType.BFloat16);
        double loss = FusedCrossEntropy.Run(logits.detach(), targets.data<long>().ToArray(), grad, scale: 0.25);
        Assert.Equal(reference.item<float>(), loss, 1e-5);
        var difference = (grad.to(ScalarType.Float32) - logits.grad!.to(ScalarType.Float32)).abs();
        var ulp = logits.grad!.to(ScalarType.Float32).abs() * (1.0 / 128) + 1e-12; // one bf16 step at each value
        Assert.True((difference <= ulp).all().item<bool>(), $"max difference {difference.max().item<float>()}");
    }

    [Fact]
    public void FusedAndReferenceTrainingStepsAgree()
    {
        var config = ModelPresets.Get("tiny") with { VocabSize = 97, HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1, IntermediateSize = 64 };
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            var fused = Losses(true, dtype);
            var reference = Losses(false, dtype);
            double tolerance = dtype == ScalarType.Float32 ? 1e-4 : 2e-2;
            Assert.True(fused.Zip(reference).All(p => Math.Abs(p.First - p.Second) < tolerance), $"{dtype}: fused {string.Join(", ", fused)} vs reference {string.Join(", ", reference)}");
            Assert.True(fused[^1] < fused[0]);
        }

        List<double> Losses(bool fused, ScalarType dtype)
        {
            manual_seed(1);
            using var model = new LlamaForCausalLM(config, new ModelOptions { ComputeDtype = dtype, FusedKernels = fused });
            using var adam = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
            using var step = new TrainStep(model, adam, 2, 8, gradAccumSteps: 2, gradClip: 1.0) { FusedLoss = fused };
            return Enumerable.Range(0, 4).Select(s => step.Run(1e-2, (micro, x, y) =>
            {
                for (int i = 0; i < x.Length; i++) { x[i] = (s * 7 + micro * 3 + i) % 97; y[i] = (x[i] * 5 + 1) % 97; }
            }).Loss).ToList();
        }
    }
}
