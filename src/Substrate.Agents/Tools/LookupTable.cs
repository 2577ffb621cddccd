namespace Substrate.Agents.Tools;

/// <summary>
/// A key → value table read from a tab-separated file (<c>key\tvalue</c> a line), looked up by key, case-insensitively:
/// the <c>lookup</c> tool. <c>substrate data tools</c> writes one from the corpus (WordNet words → their first gloss,
/// Bible chapters → their number of verses). An unknown key is an error naming it, which the tool guard hands back to the model.
/// </summary>
public sealed class LookupTable
{
    readonly Dictionary<string, string> entries;

    public LookupTable(IEnumerable<KeyValuePair<string, string>> entries)
    {
        this.entries = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in entries)
        {
            if (key.Length == 0 || key.Contains('\t') || key.Contains('\n') || value.Contains('\n') || value.Contains('\t'))
                throw new ArgumentException($"a lookup entry's key and value must be one line without tabs (key '{key}')");
            if (!this.entries.TryAdd(key, value)) throw new ArgumentException($"the lookup key '{key}' appears twice");
        }
    }

    public int Count => entries.Count;

    public IEnumerable<string> Keys => entries.Keys;

    public static LookupTable Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"lookup table not found: {path}", path);
        // A file saved with CRLF endings would leave '\r' on every value, and a key written with surrounding space could
        // never be found (Lookup trims what it is asked): both are read as the table meant.
        var lines = File.ReadLines(path).Select((line, i) => (line: line.TrimEnd('\r'), i)).Where(l => l.line.Length > 0).Select(l =>
        {
            var tab = l.line.IndexOf('\t');
            if (tab <= 0 || l.line[..tab].Trim().Length == 0) throw new InvalidDataException($"{path}:{l.i + 1}: expected key<TAB>value");
            return KeyValuePair.Create(l.line[..tab].Trim(), l.line[(tab + 1)..]);
        });
        try { return new LookupTable(lines.ToList()); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>The file's text: the entries in key order, one a line.</summary>
    public string ToText() => string.Concat(entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}\t{e.Value}\n"));

    public string Lookup(string key) =>
        entries.TryGetValue(key.Trim(), out var value) ? value : throw new ArgumentException($"no entry for '{key}'");
}
