using Substrate.Models;

namespace Substrate.Training;

/// <summary>
/// The mixture-of-experts router's share of a training step: after a forward with gradients, the backward of
/// <see cref="LlamaForCausalLM.RouterLoss"/> / <c>divisor</c> (load balancing and z-loss, weighted by the config's
/// coefficients), keeping the graph for the next-token loss's backward that follows. Nothing for a dense model.
/// </summary>
public static class RouterLossStep
{
    /// <summary>Runs the router loss's backward; returns its value (null when there is none: a dense model, or no coefficient).</summary>
    public static double? Backward(LlamaForCausalLM model, int divisor)
    {
        using var loss = model.RouterLoss();
        if (loss is null) return null;
        using var scaled = loss / divisor;
        scaled.backward(retain_graph: true); // the logits' backward runs next over the same graph
        return loss.item<float>();
    }

    /// <summary>Adds a micro-step's router loss to the step's sum (null stays null: nothing to record for a dense model).</summary>
    public static double? Accumulate(double? sum, double? microStep) => microStep is double value ? (sum ?? 0) + value : sum;
}
