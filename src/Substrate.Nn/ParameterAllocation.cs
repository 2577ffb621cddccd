using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// How a module creates its parameters: initialized in fp32 (the default: master weights for training, converted
/// afterwards where asked), or allocated in <see cref="Dtype"/> and left uninitialized, for a loader that points every
/// parameter at its weights (<c>ModelFolder.LoadForInference</c> maps them from the file): memory the allocator hands
/// out and nobody touches is never resident, so building a 1B model this way costs no RAM.
/// </summary>
public sealed record ParameterAllocation(ScalarType Dtype, bool Initialize)
{
    public static readonly ParameterAllocation Initialized = new(ScalarType.Float32, true);

    /// <summary>N(0, std) from the global generator, or uninitialized.</summary>
    public Tensor Normal(long[] shape, double std)
    {
        if (!Initialize) return empty(shape, Dtype);
        using (no_grad()) return empty(shape).normal_(0.0, std);
    }

    /// <summary>Every element <paramref name="value"/> (RMSNorm's ones, a bias's zeros), or uninitialized.</summary>
    public Tensor Filled(long[] shape, double value) => Initialize ? full(shape, value) : empty(shape, Dtype);
}
