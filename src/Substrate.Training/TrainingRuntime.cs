using Substrate.Models;
using Substrate.Nn;
using TorchSharp;

namespace Substrate.Training;

/// <summary>
/// Where and how wide a recipe runs (the <c>--device</c> and <c>--threads</c> flags), and the one place a recipe's
/// typed choices (precision, attention) become <see cref="ModelOptions"/>.
/// </summary>
public sealed record TrainingRuntime(string Device = "cpu", int Threads = 0)
{
    /// <summary>Applies the process runtime (libtorch's threads, 0: one per core; freed memory kept for reuse unless
    /// <paramref name="retainFreedMemory"/> is false, as a QLoRA run asks: see <see cref="RuntimeSettings"/>) and returns the model
    /// options of the run.</summary>
    public ModelOptions Start(ComputePrecision compute, AttentionImplementation attention, ComputePrecision weights = ComputePrecision.Float32,
        bool retainFreedMemory = true)
    {
        ProcessRuntime.Configure(new RuntimeSettings(Threads, retainFreedMemory));
        return new ModelOptions
        {
            ComputeDtype = compute.ToScalarType(), WeightDtype = weights.ToScalarType(), Attention = attention, Device = torch.device(Device),
        };
    }
}
