namespace Substrate.Nn;

/// <summary>Which adapter a forward pass uses: one for the whole batch (<see cref="Name"/>, null = the base),
/// or one per batch row (<see cref="Rows"/>).</summary>
public sealed record LoraSelection(string? Name, string?[]? Rows = null)
{
    public static readonly LoraSelection Base = new((string?)null);
}

/// <summary>
/// The adapter selection every <see cref="LoraLinear"/> of one model reads. A default (set once, e.g. the adapter
/// a CLI run loaded) and a scoped override per call (<see cref="Use(string?)"/>), held in an AsyncLocal so
/// concurrent callers each see their own choice.
/// </summary>
public sealed class LoraRouter
{
    private readonly AsyncLocal<LoraSelection?> scoped = new();

    public LoraSelection Default { get; set; } = LoraSelection.Base;

    public LoraSelection Current => scoped.Value ?? Default;

    /// <summary>Selects one adapter (null: the base) until the returned scope is disposed.</summary>
    public IDisposable Use(string? name) => Use(new LoraSelection(name));

    /// <summary>Selects one adapter per batch row until the returned scope is disposed.</summary>
    public IDisposable UseRows(string?[] rows) => Use(new LoraSelection(null, rows));

    public IDisposable Use(LoraSelection selection)
    {
        var previous = scoped.Value;
        scoped.Value = selection;
        return new Restore(() => scoped.Value = previous);
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        private bool done;
        public void Dispose() { if (!done) { done = true; restore(); } }
    }
}
