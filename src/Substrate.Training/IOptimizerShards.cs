using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// What a sharded <see cref="AdamW"/> (ZeRO stage 1) needs from the ranks it is split over: which flat range of each parameter it
/// owns, a sum over ranks (the gradient norm), the weights each rank updated gathered everywhere, and the whole moments on rank 0 for a checkpoint.
/// </summary>
public interface IOptimizerShards
{
    /// <summary>The flat range [lo, lo + length) of parameter <paramref name="index"/> (in <see cref="AdamW.Parameters"/> order) this rank owns.</summary>
    (long Lo, long Length) OwnedRange(int index);

    double SumOverRanks(double value);

    /// <summary>After each rank updated its ranges: every parameter whole, on every rank.</summary>
    void AllGatherParameters();

    /// <summary>A collective: on rank 0, the whole moments by name (<c>{name}.exp_avg</c>, <c>{name}.exp_avg_sq</c>, shaped like the
    /// parameters) from each rank's owned parts (1-D, in parameter order), valid until the next collective; elsewhere, empty.</summary>
    Dictionary<string, Tensor> GatherMoments(Tensor[] expAvg, Tensor[] expAvgSq, string[] names);
}
