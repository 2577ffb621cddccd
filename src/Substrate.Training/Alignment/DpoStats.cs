using System.Text.Json.Serialization;

namespace Substrate.Training.Alignment;

/// <summary>One DPO step's figures: the loss, the share of pairs whose implicit reward prefers the chosen answer, the mean
/// reward margin (chosen − rejected), and the mean implicit rewards β·(π − ref) of each side.</summary>
public sealed record DpoStats(
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("reward_accuracy")] double RewardAccuracy,
    [property: JsonPropertyName("reward_margin")] double RewardMargin,
    [property: JsonPropertyName("chosen_reward")] double ChosenReward,
    [property: JsonPropertyName("rejected_reward")] double RejectedReward)
{
    /// <summary>Each figure through <paramref name="f"/> (the mean over data-parallel ranks).</summary>
    public DpoStats Map(Func<double, double> f) => new(f(Loss), f(RewardAccuracy), f(RewardMargin), f(ChosenReward), f(RejectedReward));

    /// <summary>The mean of each figure over <paramref name="steps"/> (zeros when there are none).</summary>
    public static DpoStats Mean(IReadOnlyCollection<DpoStats> steps) => steps.Count == 0 ? new(0, 0, 0, 0, 0)
        : new(steps.Average(s => s.Loss), steps.Average(s => s.RewardAccuracy), steps.Average(s => s.RewardMargin),
            steps.Average(s => s.ChosenReward), steps.Average(s => s.RejectedReward));
}
