namespace Substrate.Inference.Serving;

/// <summary>
/// Constrained decoding: before each token, which ids may come next; after it, the chosen id. One instance per
/// sequence (it holds the state), used from the scheduler thread only.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Sets allowed[id] for every id that keeps the output valid (the array comes cleared).</summary>
    void Allowed(bool[] allowed);

    /// <summary>Records the chosen token.</summary>
    void Advance(int id);

    /// <summary>The output is complete: generation ends here.</summary>
    bool IsComplete { get; }
}
