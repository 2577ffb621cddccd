using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers.Formats;

/// <summary>
/// Reads tiktoken rank files (<c>*.tiktoken</c>: one "base64-token rank" per line; the rank is the id).
/// tiktoken merges, within a pre-token, the adjacent pair whose concatenation has the lowest rank;
/// that is BPE with a rule (a, b) → a+b at rank(a+b) for every split of every token, which is how
/// the file is turned into a <see cref="ByteLevelBpeTokenizer"/>. The regex and special tokens
/// come from the file name (r50k/p50k: GPT-2's; o200k; anything else: cl100k).
/// </summary>
public static class TiktokenFile
{
    public static ByteLevelBpeTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tiktoken file not found: {path}", path);
        var ranks = ReadRanks(path);
        var vocab = new Dictionary<string, int>(ranks.Count, StringComparer.Ordinal);
        foreach (var (bytes, rank) in ranks) vocab[ByteLevelAlphabet.ToString(bytes)] = rank;
        var table = BuildMergeTable(vocab);
        string pattern = PreTokenizerPatterns.ForTiktokenFile(path);
        var specials = SpecialTokensFor(path).Select(s => new AddedToken(s.Id, s.Content)).ToArray();
        string? eos = specials.Length > 0 ? specials[0].Content : null;
        var options = new ByteLevelBpeOptions { Pattern = pattern, IgnoreMerges = true, EosToken = eos };
        try
        {
            return new ByteLevelBpeTokenizer(vocab, table, merges: null, specials, options);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static List<(byte[] Bytes, int Rank)> ReadRanks(string path)
    {
        var ranks = new List<(byte[], int)>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            if (space <= 0 || !int.TryParse(line.AsSpan(space + 1), out int rank) || rank < 0)
                throw new InvalidDataException($"{path}:{lineNumber}: expected \"<base64 token> <rank>\"");
            try
            {
                ranks.Add((Convert.FromBase64String(line[..space]), rank));
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: token is not valid base64");
            }
        }
        if (ranks.Count == 0) throw new InvalidDataException($"{path}: no ranks in file");
        return ranks;
    }

    private static MergeTable BuildMergeTable(Dictionary<string, int> vocab)
    {
        var table = new MergeTable(vocab.Count * 2);
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var (token, rank) in vocab)
        {
            for (int split = 1; split < token.Length; split++)
            {
                if (lookup.TryGetValue(token.AsSpan(0, split), out int left) && lookup.TryGetValue(token.AsSpan(split), out int right))
                    table.Add(left, right, rank, rank);
            }
        }
        return table;
    }

    /// <summary>The special tokens tiktoken defines for the encoding named by the file.</summary>
    private static (string Content, int Id)[] SpecialTokensFor(string path)
    {
        string name = Path.GetFileName(path).ToLowerInvariant();
        if (name.StartsWith("r50k") || name.StartsWith("gpt2")) return [("<|endoftext|>", 50256)];
        if (name.StartsWith("p50k")) return [("<|endoftext|>", 50256)];
        if (name.StartsWith("o200k")) return [("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)];
        if (name.StartsWith("cl100k"))
            return [("<|endoftext|>", 100257), ("<|fim_prefix|>", 100258), ("<|fim_middle|>", 100259),
                    ("<|fim_suffix|>", 100260), ("<|im_start|>", 100264), ("<|im_end|>", 100265),
                    ("<|im_sep|>", 100266), ("<|endofprompt|>", 100276)];
        return [];
    }
}
