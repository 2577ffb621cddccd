using Substrate.Models.Lora;
using Substrate.Nn;
using Substrate.Nn.Quantized;
using static TorchSharp.torch;

namespace Substrate.Models.Tests.Lora;

/// <summary>Activation checkpointing (<see cref="ModelOptions.GradientCheckpointing"/>) changes memory, not results: the same
/// loss, adapter gradients and random stream as the plain graph, bit for bit — with dropout drawn in every layer, packed rows
/// (whose mask and rotary tables the recompute reads after the forward's scope freed them) and a quantized base.</summary>
public class GradientCheckpointingTests
{
    static readonly ModelConfig Config = new()
    {
        VocabSize = 48, HiddenSize = 128, NumHiddenLayers = 3, NumAttentionHeads = 4, NumKeyValueHeads = 2, IntermediateSize = 192,
        MaxPositionEmbeddings = 32, TieWordEmbeddings = true,
    };

    /// <summary>One step's loss, adapter gradients (by PEFT key) and the next draw of the global generator.</summary>
    static (float Loss, Dictionary<string, float[]> Grads, float NextDraw) Step(bool checkpointing, ScalarType compute, WeightQuantization? quant)
    {
        manual_seed(11);
        var options = new ModelOptions { ComputeDtype = compute, GradientCheckpointing = checkpointing };
        using var lora = LoraModel.Create(Config, options, quant);
        lora.AddAdapter("a", new LoraAdapterConfig { R = 4, LoraAlpha = 8, LoraDropout = 0.2, TargetModules = ["all-linear"] }, seed: 3);
        lora.Router.Default = new LoraSelection("a");
        var adapter = lora.AdapterParameters("a").ToList();
        using (no_grad())
            foreach (var (_, p) in adapter) { p.requires_grad = true; p.normal_(0, 0.05); } // B ≠ 0: gradients reach A and the input too
        lora.Model.train();
        using var scope = NewDisposeScope();
        var ids = tensor(Enumerable.Range(0, 2 * 12).Select(i => (long)(i * 7 % Config.VocabSize)).ToArray(), [2, 12]);
        long[] segments = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var logits = lora.Model.forward(ids, PackedLayout.FromSegments(segments, 2, 12, CPU)); // (2, 12, V) fp32
        var loss = logits.to(ScalarType.Float32).log_softmax(-1)[.., .., 5].mean().neg();
        loss.backward();
        var grads = adapter.ToDictionary(p => p.Name, p => p.Parameter.grad!.to(ScalarType.Float32).data<float>().ToArray());
        return (loss.item<float>(), grads, rand(1).item<float>());
    }

    [Theory]
    [InlineData(ScalarType.Float32, null)]
    [InlineData(ScalarType.BFloat16, WeightQuantization.Nf4)]
    [InlineData(ScalarType.Float32, WeightQuantization.Q8_0)]
    public void GradientsAreBitIdenticalToThePlainGraph(ScalarType compute, WeightQuantization? quant)
    {
        var plain = Step(checkpointing: false, compute, quant);
        var checkpointed = Step(checkpointing: true, compute, quant);
        Assert.Equal(plain.Loss, checkpointed.Loss);
        Assert.Equal(plain.Grads.Keys, checkpointed.Grads.Keys);
        Assert.All(plain.Grads, g => Assert.True(g.Value.Any(v => v != 0), $"{g.Key}: no gradient"));
        Assert.All(plain.Grads, g => Assert.Equal(g.Value, checkpointed.Grads[g.Key]));
        Assert.Equal(plain.NextDraw, checkpointed.NextDraw); // the recompute's dropout draws were replayed and the generator restored
    }

    [Fact]
    public void WithoutGradientsTheForwardIsThePlainOne()
    {
        manual_seed(5);
        using var model = new LlamaForCausalLM(Config, new ModelOptions { GradientCheckpointing = true });
        using var plain = new LlamaForCausalLM(Config, new ModelOptions());
        plain.load_state_dict(model.state_dict());
        using var ids = tensor(new long[] { 3, 1, 4, 1, 5, 9 }).unsqueeze(0);
        using var _ = no_grad();
        using var a = model.call(ids);
        using var b = plain.call(ids);
        Assert.Equal(b.data<float>().ToArray(), a.data<float>().ToArray());
    }

    [Fact]
    public void AMixtureOfExpertsModelRefusesItInsteadOfIgnoringIt() =>
        Assert.Contains("not supported for mixture-of-experts", Assert.Throws<ArgumentException>(
            () => new LlamaForCausalLM(SparseMoeTests.Moe("mixtral"), new ModelOptions { GradientCheckpointing = true })).Message);
}
