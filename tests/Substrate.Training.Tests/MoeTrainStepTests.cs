using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

/// <summary>A pretraining step of a mixture of experts: the router loss's backward joins the next-token loss's over one graph.</summary>
public class MoeTrainStepTests
{
    private static readonly ModelConfig Mixtral = ModelFamily.Mixtral.Apply(new ModelConfig
    {
        VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, IntermediateSize = 32,
        MaxPositionEmbeddings = 32, NumLocalExperts = 4, NumExpertsPerTok = 2, TieWordEmbeddings = true,
    });

    /// <summary>The router's change in one AdamW step, with the given coefficients.</summary>
    private static Tensor RouterUpdate(double aux, double z)
    {
        manual_seed(3);
        using var model = new LlamaForCausalLM(Mixtral with { RouterAuxLossCoef = aux, RouterZLossCoef = z });
        var router = model.named_parameters().Single(p => p.name == "model.layers.0.block_sparse_moe.gate.weight").parameter;
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
        using var before = router.detach().clone();
        using var step = new TrainStep(model, optimizer, batchSize: 2, seqLen: 8, gradAccumSteps: 1, gradClip: 0);
        var random = new Random(1);
        var (loss, _) = step.Run(1e-2, (_, x, y) => { for (int i = 0; i < x.Length; i++) (x[i], y[i]) = (random.Next(64), random.Next(64)); });
        Assert.True(double.IsFinite(loss) && loss > 3);
        return router.detach() - before;
    }

    [Fact]
    public void The_router_losses_change_the_routers_update_and_the_step_runs()
    {
        using var plain = RouterUpdate(0, 0);
        using var balanced = RouterUpdate(0.5, 0.1);
        Assert.True(plain.abs().sum().item<float>() > 0); // the next-token loss reaches the router through the routing weights
        Assert.False(plain.allclose(balanced, rtol: 0, atol: 1e-7));
    }

    /// <summary>The step's router loss (metrics.jsonl's router_loss) is the one its forward trained on: the model's own
    /// RouterLoss on the same batch, the mean over micro-steps; null without coefficients (nothing to watch).</summary>
    [Fact]
    public void The_step_reports_the_router_loss_of_its_batch()
    {
        long[] x = [.. Enumerable.Range(0, 16).Select(i => (long)(i * 7 % 64))], y = [.. x.Select(v => (v + 1) % 64)];
        foreach (var (aux, z) in new[] { (0.5, 0.1), (0.0, 0.0) })
        {
            manual_seed(3);
            using var model = new LlamaForCausalLM(Mixtral with { RouterAuxLossCoef = aux, RouterZLossCoef = z });
            double? expected = null;
            using (var scope = NewDisposeScope())
            {
                model.ComputeDtypeLogits(tensor(x, [2, 8])); // (2, 8, V): records the router logits, gradients on
                expected = model.RouterLoss()?.item<float>();
            }
            using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
            using var step = new TrainStep(model, optimizer, batchSize: 2, seqLen: 8, gradAccumSteps: 2, gradClip: 0);
            step.Run(1e-2, (_, inputs, targets) => { x.CopyTo(inputs); y.CopyTo(targets); }); // the same batch in both micro-steps
            Assert.Equal(aux > 0, expected is not null);
            if (expected is null) Assert.Null(step.LastRouterLoss);
            else Assert.Equal(expected.Value, step.LastRouterLoss!.Value, 1e-6);
        }
    }
}
