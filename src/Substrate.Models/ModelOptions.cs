using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Models;

/// <summary>How attention is computed: the eager reference (matmul, mask, fp32 softmax, matmul)
/// or libtorch's fused scaled_dot_product_attention. They agree to ~1e-6 in fp32.</summary>
public enum AttentionImplementation { Eager, Fused }

/// <summary>
/// Runtime choices for a model, apart from its architecture (<see cref="ModelConfig"/>).
/// </summary>
public sealed record ModelOptions
{
    /// <summary>
    /// Float32, or BFloat16 for mixed precision: weights stay fp32 (master weights); linears and
    /// attention run in bf16 (weights cast once per use, activations cast at each block input);
    /// RMSNorm statistics, the residual stream, the eager softmax and the returned logits stay fp32.
    /// </summary>
    public ScalarType ComputeDtype { get; init; } = ScalarType.Float32;

    /// <summary>
    /// The dtype the parameters are stored in: Float32 (master weights, for training) or BFloat16 for
    /// inference with <see cref="ComputeDtype"/> = BFloat16 — no per-forward weight cast, half the memory
    /// traffic per decoded token (bench-12m: ~310 vs ~200 tokens/s on one core). Loading converts on the fly.
    /// </summary>
    public ScalarType WeightDtype { get; init; } = ScalarType.Float32;

    /// <summary>
    /// True (the default): parameters are initialized (fp32, then converted to <see cref="WeightDtype"/>). False: they are
    /// allocated in <see cref="WeightDtype"/> and left uninitialized — for a loader that sets every one
    /// (<see cref="ModelFolder.LoadForInference"/>); needs plain linears (<see cref="PlainLinearFactory"/>).
    /// </summary>
    public bool InitializeWeights { get; init; } = true;

    /// <summary>How the modules create their parameters, as <see cref="InitializeWeights"/> and <see cref="WeightDtype"/> say.</summary>
    internal ParameterAllocation Allocation => InitializeWeights ? ParameterAllocation.Initialized : new(WeightDtype, false);

    public Device Device { get; init; } = CPU;

    public AttentionImplementation Attention { get; init; } = AttentionImplementation.Fused;

    /// <summary>Builds every projection (plain by default; LoRA or quantized factories plug in here).</summary>
    public ILinearFactory LinearFactory { get; init; } = PlainLinearFactory.Instance;

    /// <summary>Use the hand-written CPU kernels (<see cref="Substrate.Nn.Kernels.FusedRmsNorm"/>,
    /// <see cref="Substrate.Nn.Kernels.FusedSwiGlu"/>) where they apply;
    /// off, every block is the libtorch composition (the reference the kernels are tested against).</summary>
    public bool FusedKernels { get; init; } = true;

    /// <summary>Activation checkpointing while training: each decoder layer keeps only its input for backward and runs again
    /// there (<see cref="Substrate.Nn.ActivationCheckpoint"/>): the step's activations shrink to one layer's, for one more
    /// forward; gradients are bit-identical. Dense layers without a KV cache only (a mixture of experts' router keeps its own).</summary>
    public bool GradientCheckpointing { get; init; }
}
