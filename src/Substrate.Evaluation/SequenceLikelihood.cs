using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Evaluation;

/// <summary>Log-likelihood of chosen tokens of a sequence under a model, the scoring behind multiple-choice tasks and
/// chat answers alike.</summary>
public static class SequenceLikelihood
{
    /// <summary>
    /// Σ log p(ids[t] | ids[..t]) over the <paramref name="scored"/> positions (each ≥ 1). A sequence longer than the
    /// model's window is cut from the left; scored positions cut off with it no longer count (−∞ when none is left).
    /// </summary>
    public static double Sum(LlamaForCausalLM model, int[] ids, IEnumerable<int> scored)
    {
        int start = Math.Max(0, ids.Length - model.Config.MaxPositionEmbeddings - 1);
        var kept = scored.Where(t => t > start).Select(t => t - start).ToArray(); // positions within ids[start..]
        if (kept.Length == 0) return double.NegativeInfinity;
        var window = ids[start..];
        var device = model.Options.Device;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(window[..^1].Select(i => (long)i).ToArray(), [1, window.Length - 1], device: device);
        var logProbs = model.forward(input)[0].log_softmax(-1);                               // (T, V)
        var positions = tensor(kept.Select(t => (long)(t - 1)).ToArray(), device: device);  // the position predicting each scored token
        var targets = tensor(kept.Select(t => (long)window[t]).ToArray(), device: device);
        return logProbs.index_select(0, positions).gather(1, targets.unsqueeze(1)).sum().item<float>();
    }
}
