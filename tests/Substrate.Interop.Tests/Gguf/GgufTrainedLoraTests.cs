using Substrate.Nn.Ggml;
using F = TorchSharp.torch.nn.functional;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Models.Tests;
using Substrate.Nn;
using Substrate.Nn.Quantized;
using static TorchSharp.torch;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>A LoRA adapter trained by Substrate, saved as a PEFT folder and exported to GGUF: llama.cpp with the
/// adapter must decode greedily exactly what Substrate's base + adapter decodes. Trained on a quantized base (QLoRA), the
/// adapter is the same PEFT folder: it goes onto the dense base in Substrate and in llama.cpp alike.</summary>
public class GgufTrainedLoraTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(WeightQuantization.Q4_K)]
    public void Llama_cpp_with_a_trained_adapter_decodes_like_substrate(WeightQuantization? baseQuantization)
    {
        var baseDir = GgufTestModels.CreateFolder(baseQuantization is null ? null
            : GgufTestModels.Config with { HiddenSize = 256, IntermediateSize = 256 }); // whole q4_K blocks of 256
        var adapterDir = TinyModels.Dir();
        using var trained = LoraModel.Load(baseDir, baseQuantization: baseQuantization);
        var lora = trained;
        lora.AddAdapter("x", new LoraAdapterConfig { R = 4, LoraAlpha = 8, TargetModules = [LoraAdapterConfig.AllLinear], BaseModelNameOrPath = baseDir }, seed: 5);
        lora.Router.Default = new LoraSelection("x");

        // Train: teach the adapter a fixed token cycle by plain gradient descent on next-token loss.
        var cycle = Enumerable.Range(0, 32).Select(i => (long)(100 + (i % 4) * 50)).ToArray();
        var parameters = lora.AdapterParameters("x").Select(p => p.Parameter).ToList();
        lora.Model.train();
        for (int step = 0; step < 30; step++)
        {
            using var scope = NewDisposeScope();
            var ids = tensor(cycle, [1, cycle.Length]);
            var logits = lora.Model.forward(ids.narrow(1, 0, cycle.Length - 1))[0]; // (T-1, V)
            F.cross_entropy(logits, ids[0].narrow(0, 1, cycle.Length - 1)).backward();
            using (no_grad())
                foreach (var p in parameters) { p.add_(p.grad!, alpha: -0.05); p.grad!.zero_(); }
        }
        lora.Model.eval();
        lora.SaveAdapter("x", adapterDir);
        using var dense = baseQuantization is null ? null : LoraModel.Load(baseDir); // QLoRA: decode with the dense base
        if (dense is not null)
        {
            dense.LoadAdapter("x", adapterDir);
            dense.Router.Default = new LoraSelection("x");
            lora = dense;
        }

        var prompt = new[] { 100, 150, 200 };
        var substrate = GgufTestModels.Greedy(lora.Model, prompt, 12);
        int[] baseline;
        using (lora.Router.Use((string?)null)) baseline = GgufTestModels.Greedy(lora.Model, prompt, 12);
        Assert.NotEqual(baseline, substrate); // the adapter learned something

        var baseGguf = Path.Combine(baseDir, "base.gguf");
        var adapterGguf = Path.Combine(adapterDir, "adapter.gguf");
        GgufExporter.Export(baseDir, baseGguf, GgufFileType.F32);
        GgufAdapterExporter.Export(adapterDir, baseDir, adapterGguf);
        using var cpp = new LlamaCpp(baseGguf, loraPath: adapterGguf);
        Assert.Equal(substrate, cpp.Greedy(prompt, 12));
        using var plain = new LlamaCpp(baseGguf);
        Assert.Equal(baseline, plain.Greedy(prompt, 12));
    }
}
