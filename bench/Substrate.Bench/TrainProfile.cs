using System.Diagnostics;
using System.Text.Json;
using Substrate.Models;
using Substrate.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// Where a bench-12m training step's time goes: model forward, loss (fused cross-entropy and its
/// gradient), model backward, optimizer (global norm + AdamW) (milliseconds,
/// median of a few steps), per compute dtype. Part of <c>train</c>; tells model and optimizer work apart.
/// </summary>
public static class TrainProfile
{
    public static void Run(ModelConfig config, ScalarType dtype, int batch, int seqLen, int steps = 5)
    {
        manual_seed(0);
        using var model = new LlamaForCausalLM(config, new ModelOptions { ComputeDtype = dtype, Attention = AttentionImplementation.Eager });
        model.train();
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
        using var grad = empty([batch * seqLen, config.VocabSize], dtype); // (B·T, V) compute dtype, reused
        var phases = new Dictionary<string, List<double>> { ["forward"] = [], ["loss"] = [], ["backward"] = [], ["optimizer"] = [] };
        for (int s = 0; s < steps + 1; s++)
        {
            using var scope = NewDisposeScope();
            var x = randint(config.VocabSize, [batch, seqLen]);
            var targets = randint(config.VocabSize, [batch * seqLen]).data<long>().ToArray();
            var clock = Stopwatch.StartNew();
            var logits = model.ComputeDtypeLogits(x).view(-1, config.VocabSize); // (B·T, V) compute dtype, as TrainStep reads them
            double forward = clock.Elapsed.TotalMilliseconds;
            using (no_grad()) FusedCrossEntropy.Run(logits, targets, grad); // loss and d loss / d logits, as TrainStep does
            double lossMs = clock.Elapsed.TotalMilliseconds - forward;
            logits.backward([grad]);
            double backward = clock.Elapsed.TotalMilliseconds - forward - lossMs;
            optimizer.Step(1e-4, AdamW.ClipScale(optimizer.GradNorm(), 1.0));
            optimizer.ZeroGrad();
            double opt = clock.Elapsed.TotalMilliseconds - forward - lossMs - backward;
            if (s == 0) continue; // warm-up
            phases["forward"].Add(forward); phases["loss"].Add(lossMs); phases["backward"].Add(backward); phases["optimizer"].Add(opt);
        }
        var result = new Dictionary<string, object> { ["bench"] = "train_profile", ["model"] = "bench-12m", ["dtype"] = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32" };
        foreach (var (name, values) in phases) result[name + "_ms"] = values.Order().ElementAt(values.Count / 2);
        Console.WriteLine(JsonSerializer.Serialize(result));
    }
}
