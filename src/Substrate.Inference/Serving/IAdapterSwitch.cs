namespace Substrate.Inference;

/// <summary>
/// Several LoRA adapters loaded once over one base model, one selected per forward pass without reloading the base.
/// The scheduler groups sequences by adapter and selects before each group's forward.
/// </summary>
public interface IAdapterSwitch
{
    IReadOnlyList<string> Names { get; }

    /// <summary>Makes <paramref name="name"/> (null = the base alone) the adapter of the next forward passes.</summary>
    void Select(string? name);
}
