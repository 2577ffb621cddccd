namespace Substrate.Server;

/// <summary>How the server listens and what it accepts.</summary>
public sealed record ServerOptions
{
    /// <summary>Where to listen; port 0 picks a free port (see <see cref="SubstrateServer.Urls"/>).</summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:8080"];

    /// <summary>Bearer keys accepted on every endpoint but /health and /metrics; empty = no authentication.</summary>
    public IReadOnlyList<string> ApiKeys { get; init; } = [];

    /// <summary>Largest request body in bytes (413 beyond).</summary>
    public long MaxRequestBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Where uploaded files and vector stores live (<c>files/</c>, <c>vector_stores/</c>); default
    /// <c>~/.local/share/substrate/server</c> (the user's local application data).</summary>
    public string DataDir { get; init; } = Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "substrate", "server");

    /// <summary>Most inputs in one embeddings request.</summary>
    public int MaxEmbeddingInputs { get; init; } = 256;
}

/// <summary>One route of the server: its pattern (as mapped), HTTP methods (empty: any) and whether it needs no API key.</summary>
public sealed record ServerRoute(string Pattern, IReadOnlyList<string> Methods, bool Anonymous);
