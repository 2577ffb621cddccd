using System.Text.Json;
using System.Text.Json.Serialization;

namespace Substrate.Training;

/// <summary>One line of <c>metrics.jsonl</c>: a training step (loss, lr, …) or a validation (val_loss).</summary>
public sealed record MetricRecord
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("loss")] public double? Loss { get; init; }
    /// <summary>Mixture of experts: the router's weighted load-balancing + z-loss, mean over the step's micro-steps (not in loss).</summary>
    [JsonPropertyName("router_loss")] public double? RouterLoss { get; init; }
    [JsonPropertyName("val_loss")] public double? ValidationLoss { get; init; }
    [JsonPropertyName("lr")] public double? Lr { get; init; }
    [JsonPropertyName("grad_norm")] public double? GradNorm { get; init; }
    [JsonPropertyName("tokens")] public long? TokensSeen { get; init; }
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    [JsonPropertyName("mfu")] public double? Mfu { get; init; }
    [JsonPropertyName("elapsed_s")] public double? ElapsedSeconds { get; init; }
}

/// <summary>Appends <see cref="MetricRecord"/> lines to <c>metrics.jsonl</c>; a resumed run first drops the lines past its checkpoint.</summary>
public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";
    static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    readonly TextWriter _writer;

    public string Path { get; }

    /// <summary>Opens the log, keeping only records up to <paramref name="keepThroughStep"/> (0 for a fresh run: empty log).</summary>
    public MetricsLog(string directory, int keepThroughStep)
    {
        Path = System.IO.Path.Combine(directory, FileName);
        var kept = keepThroughStep > 0 ? Read(Path).Where(r => r.Step <= keepThroughStep).ToList() : [];
        _writer = new StreamWriter(Path, append: false) { AutoFlush = true };
        foreach (var record in kept) Append(record);
    }

    MetricsLog(string path, TextWriter writer) => (Path, _writer) = (path, writer);

    /// <summary>A log that writes nothing (a data-parallel rank other than 0: rank 0 keeps the run's one log).</summary>
    public static MetricsLog Discard(string directory) => new(System.IO.Path.Combine(directory, FileName), TextWriter.Null);

    public void Append(MetricRecord record) => _writer.WriteLine(JsonSerializer.Serialize(record, Json));

    public static List<MetricRecord> Read(string path) => !File.Exists(path) ? []
        : File.ReadLines(path).Where(l => !string.IsNullOrWhiteSpace(l))
            .Select(l =>
            {
                try { return JsonSerializer.Deserialize<MetricRecord>(l); }
                catch (JsonException) { return null; } // a torn last line after a kill
            })
            .OfType<MetricRecord>().ToList();

    public void Dispose() => _writer.Dispose();
}
