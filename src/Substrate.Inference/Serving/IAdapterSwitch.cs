namespace Substrate.Inference.Serving;

/// <summary>
/// Several LoRA adapters loaded once over one base model, selected per forward pass without reloading the base:
/// one for the whole batch, or one per batch row (so a decode step mixes requests on different adapters).
/// </summary>
public interface IAdapterSwitch
{
    IReadOnlyList<string> Names { get; }

    /// <summary>Selects <paramref name="name"/> (null = the base) for forward passes until disposed.</summary>
    IDisposable Use(string? name);

    /// <summary>Selects <c>rows[b]</c> (null = the base) for batch row b until disposed.</summary>
    IDisposable UseRows(string?[] rows);
}

/// <summary>The adapters of a <see cref="MultiAdapterModel"/>.</summary>
public sealed class MultiAdapterSwitch(MultiAdapterModel model) : IAdapterSwitch
{
    public IReadOnlyList<string> Names { get; } = model.AdapterNames.ToList();
    public IDisposable Use(string? name) => model.Use(name);
    public IDisposable UseRows(string?[] rows) => model.UseRows(rows);
}
