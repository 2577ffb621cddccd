using System.Text.Json;

namespace Substrate.Tokenizers;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> a runtime needs: special-token names,
/// whether BOS/EOS are added, the maximum length, and the Jinja <c>chat_template</c> (rendering it is
/// the inference layer's job).
/// </summary>
public sealed record TokenizerConfig(
    string? BosToken,
    string? EosToken,
    string? PadToken,
    string? UnkToken,
    string? ChatTemplate,
    bool? AddBosToken,
    bool? AddEosToken,
    long? ModelMaxLength,
    string? TokenizerClass)
{
    public static readonly TokenizerConfig Empty = new(null, null, null, null, null, null, null, null, null);

    /// <summary>Reads a tokenizer_config.json; missing file → FileNotFoundException, bad JSON → InvalidDataException.</summary>
    public static TokenizerConfig Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer config not found: {path}", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object");
            return new TokenizerConfig(
                TokenName(root, "bos_token"), TokenName(root, "eos_token"), TokenName(root, "pad_token"), TokenName(root, "unk_token"),
                ChatTemplateOf(root), Bool(root, "add_bos_token"), Bool(root, "add_eos_token"), MaxLength(root),
                root.TryGetProperty("tokenizer_class", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: malformed JSON: {e.Message}", e);
        }
    }

    // A special token is written either as a string or as an AddedToken object with "content".
    private static string? TokenName(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => null,
        };
    }

    // chat_template is a string, or a list of {name, template} of which "default" is the chat one.
    private static string? ChatTemplateOf(JsonElement root)
    {
        if (!root.TryGetProperty("chat_template", out var v)) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind != JsonValueKind.Array) return null;
        string? first = null;
        foreach (var t in v.EnumerateArray())
        {
            if (!t.TryGetProperty("template", out var tpl) || tpl.ValueKind != JsonValueKind.String) continue;
            first ??= tpl.GetString();
            if (t.TryGetProperty("name", out var n) && n.GetString() == "default") return tpl.GetString();
        }
        return first;
    }

    private static bool? Bool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    // Often 1e30-ish ("no limit"), which doesn't fit a long: read as double and clamp.
    private static long? MaxLength(JsonElement root)
    {
        if (!root.TryGetProperty("model_max_length", out var v) || v.ValueKind != JsonValueKind.Number) return null;
        if (v.TryGetInt64(out long l)) return l;
        return v.GetDouble() >= long.MaxValue ? long.MaxValue : (long)v.GetDouble();
    }
}
