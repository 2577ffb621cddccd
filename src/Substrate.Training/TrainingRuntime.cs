using Substrate.Models;
using TorchSharp;

namespace Substrate.Training;

/// <summary>
/// Where and how wide a recipe runs (the <c>--device</c> and <c>--threads</c> flags), and the one place a recipe's
/// typed choices (precision, attention) become <see cref="ModelOptions"/>.
/// </summary>
public sealed record TrainingRuntime(string Device = "cpu", int Threads = 0)
{
    /// <summary>Sets libtorch's intra-op threads (0: one per core) and returns the model options of the run.</summary>
    public ModelOptions Start(ComputePrecision compute, AttentionImplementation attention, ComputePrecision weights = ComputePrecision.Float32)
    {
        torch.set_num_threads(Threads > 0 ? Threads : Environment.ProcessorCount);
        return new ModelOptions
        {
            ComputeDtype = compute.ToScalarType(), WeightDtype = weights.ToScalarType(), Attention = attention, Device = torch.device(Device),
        };
    }
}
