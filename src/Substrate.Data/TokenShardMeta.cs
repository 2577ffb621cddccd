using Substrate.IO;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Data;

/// <summary>
/// <c>meta.json</c> of a prepared token folder: the raw little-endian <c>.bin</c> shards of each
/// split, their token counts, the token dtype and the tokenizer they were made with.
/// A folder is complete once <c>meta.json</c> exists (it is written last, atomically).
/// </summary>
public sealed record TokenShardMeta
{
    public const int CurrentVersion = 1;
    public const string FileName = "meta.json";

    [JsonPropertyName("version")] public int Version { get; init; } = CurrentVersion;
    /// <summary>"uint16" or "uint32".</summary>
    [JsonPropertyName("dtype")] public string Dtype { get; init; } = "uint16";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>The id written after every document.</summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; }
    /// <summary>"sha256:&lt;hex&gt;" of the tokenizer file, or whatever fingerprint the caller gave.</summary>
    [JsonPropertyName("tokenizer_fingerprint")] public string TokenizerFingerprint { get; init; } = "";
    /// <summary>How validation was chosen, in words (input files, or every Nth document).</summary>
    [JsonPropertyName("validation_rule")] public string ValidationRule { get; init; } = "";
    [JsonPropertyName("splits")] public Dictionary<string, TokenSplitMeta> Splits { get; init; } = new();

    [JsonIgnore] public int BytesPerToken => TokenDtype.BytesPerToken(Dtype);

    public static TokenShardMeta Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"no {FileName} in '{directory}': not a prepared token folder (run `substrate data prepare`)", path);
        var meta = JsonSerializer.Deserialize<TokenShardMeta>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"{path}: empty");
        if (meta.Version != CurrentVersion)
            throw new InvalidDataException($"{path}: version {meta.Version}, this build reads version {CurrentVersion}");
        TokenDtype.BytesPerToken(meta.Dtype); // validates
        return meta;
    }

    public void Write(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var json = JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllText(path, json);
    }
}

public sealed record TokenSplitMeta
{
    [JsonPropertyName("documents")] public long Documents { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("shards")] public List<TokenShardEntry> Shards { get; init; } = new();
}

public sealed record TokenShardEntry
{
    [JsonPropertyName("file")] public string File { get; init; } = "";
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
}

/// <summary>Token storage width: uint16 where every id fits (vocab ≤ 65,536), else uint32.</summary>
public static class TokenDtype
{
    public static string For(int vocabSize) => vocabSize <= 65536 ? "uint16" : "uint32";

    public static int BytesPerToken(string dtype) => dtype switch
    {
        "uint16" => 2,
        "uint32" => 4,
        _ => throw new InvalidDataException($"unknown token dtype '{dtype}' (expected uint16 or uint32)"),
    };
}
