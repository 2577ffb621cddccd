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
}
