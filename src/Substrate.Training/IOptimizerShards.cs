using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// What a sharded <see cref="AdamW"/> (ZeRO stage 1) needs from the ranks it is split over: which flat range of each parameter it
/// owns, a sum over ranks (the gradient norm), the weights each rank updated gathered everywhere, and each whole moment on rank 0, in turn, for a checkpoint.
/// </summary>
public interface IOptimizerShards
{
    /// <summary>The flat range [lo, lo + length) of parameter <paramref name="index"/> (in <see cref="AdamW.Parameters"/> order) this rank owns.</summary>
    (long Lo, long Length) OwnedRange(int index);

    double SumOverRanks(double value);

    /// <summary>After each rank updated its ranges: every parameter whole, on every rank.</summary>
    void AllGatherParameters();

    /// <summary>A collective: on rank 0, parameter <paramref name="index"/>'s whole moment (shaped like the parameter) from each rank's
    /// owned <paramref name="part"/> (1-D), valid until the next collective; elsewhere, null.</summary>
    Tensor? GatherMoment(int index, Tensor part);
}
