using Substrate.Models;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// llama.cpp's CPU GELU as it runs, for comparing Gemma against it: ggml's f32 GELU (vec.h, with GGML_GELU_FP16 set as
/// it always is) does not evaluate the formula but rounds its input to fp16 and reads an fp16 table of the tanh GELU,
/// identity from 10 up and 0 from −10 down. That rounding alone moves a random 7-layer Gemma's logits by ~3e-2, so the
/// proof runs Substrate's model with the same rounding (a forward hook on each MLP) and shows the rest equal.
/// </summary>
internal static class GgmlGelu
{
    /// <summary>Makes every MLP of <paramref name="model"/> compute down(ggml_gelu(gate(x)) · up(x)).</summary>
    public static void Emulate(LlamaForCausalLM model)
    {
        foreach (var (_, module) in model.named_modules())
            if (module is LlamaMlp mlp)
            {
                var w = mlp.state_dict();
                mlp.register_forward_hook((_, x, _) => Mlp(x, w["gate_proj.weight"], w["up_proj.weight"], w["down_proj.weight"]));
            }
    }

    private static Tensor Mlp(Tensor x, Tensor gate, Tensor up, Tensor down) // x (B, T, H) → (B, T, H)
    {
        using var scope = NewDisposeScope();
        var g = x.matmul(gate.t());                                                   // (B, T, I)
        var rounded = g.to(ScalarType.Float16).to(ScalarType.Float32);
        var table = F.gelu(rounded, TorchSharp.Modules.GELU.Approximate.tanh).to(ScalarType.Float16).to(ScalarType.Float32);
        var gelu = where(g <= -10, zeros_like(g), where(g >= 10, g, table));
        return (gelu * x.matmul(up.t())).matmul(down.t()).MoveToOuterDisposeScope();
    }
}
