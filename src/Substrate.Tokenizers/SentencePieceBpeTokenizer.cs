using System.Text;
using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers;

/// <summary>
/// SentencePiece-style BPE as Hugging Face tokenizers runs it (Llama 2, Mistral): symbols are
/// characters, spaces are '▁', unknown characters fall back to &lt;0xNN&gt; byte tokens. Without a
/// pre-tokenizer a whole text run is one word, so merging uses the O(n log n) heap loop.
/// Lone surrogates are encoded as U+FFFD.
/// </summary>
public sealed class SentencePieceBpeTokenizer : ITokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    private readonly Dictionary<string, int> _tokenToId;
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;
    private readonly int[] _byteToId;
    private readonly int? _unkId;
    private readonly MergeTable _mergeTable;
    private readonly AddedTokenSplitter _addedSplitter;
    private readonly int[] _prefixIds, _suffixIds;
    private readonly PreTokenCache _cache = new();

    public SentencePieceBpeTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        IEnumerable<AddedToken> addedTokens, SentencePieceBpeOptions options)
    {
        Options = options;
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _vocabLookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        AddedTokens = addedTokens.OrderBy(t => t.Id).ToArray();
        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, AddedTokens.Count == 0 ? 0 : AddedTokens.Max(t => t.Id) + 1);
        VocabSize = size;
        _idToToken = new string?[size];
        _isSpecial = new bool[size];
        _tokenToId = new Dictionary<string, int>(_vocab, StringComparer.Ordinal);
        foreach (var (token, id) in vocab) _idToToken[id] = token;
        foreach (var t in AddedTokens)
        {
            _tokenToId[t.Content] = t.Id;
            _idToToken[t.Id] = t.Content;
            _isSpecial[t.Id] = t.Special;
        }
        _byteToId = new int[256];
        for (int b = 0; b < 256; b++) _byteToId[b] = _vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        if (options.ByteFallback && _byteToId.Any(id => id < 0))
            throw new InvalidDataException("byte_fallback is set but the vocabulary lacks some <0xNN> byte tokens");
        _unkId = options.UnkToken is null ? null : TokenToId(options.UnkToken);
        _mergeTable = new MergeTable(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!_vocab.TryGetValue(left, out int l) || !_vocab.TryGetValue(right, out int r) || !_vocab.TryGetValue(left + right, out int m))
                throw new InvalidDataException($"merge {rank} ('{left}' '{right}') refers to a token missing from the vocabulary");
            _mergeTable.Add(l, r, rank, m);
        }
        _addedSplitter = new AddedTokenSplitter(AddedTokens);
        _prefixIds = options.PrefixTokens
            .Select(t => TokenToId(t) ?? throw new InvalidDataException($"post-processor token '{t}' is not in the vocabulary"))
            .ToArray();
        _suffixIds = options.SuffixTokens
            .Select(t => TokenToId(t) ?? throw new InvalidDataException($"post-processor token '{t}' is not in the vocabulary"))
            .ToArray();
        Special = new SpecialTokenIds(IdOf(options.BosToken), IdOf(options.EosToken), IdOf(options.PadToken));
    }

    public SentencePieceBpeOptions Options { get; }
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    public int VocabSize { get; }
    public SpecialTokenIds Special { get; }

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_prefixIds);
        var segments = new List<AddedTokenSplitter.Segment>();
        _addedSplitter.Split(text, addSpecialTokens, segments);
        foreach (var s in segments)
        {
            if (s.Token is not null) ids.Add(s.Token.Id);
            else EncodeRun(text.Substring(s.Start, s.Length), atTextStart: s.Start == 0, ids);
        }
        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids.ToArray();
    }

    private void EncodeRun(string run, bool atTextStart, List<int> ids)
    {
        // Normalizer: Prepend (only to non-empty text), then plain Replace steps.
        if (Options.Prepend is not null && run.Length > 0) run = Options.Prepend + run;
        foreach (var (pattern, content) in Options.Replacements) run = run.Replace(pattern, content, StringComparison.Ordinal);
        if (Options.MetaspaceReplacement is char meta)
        {
            run = run.Replace(' ', meta);
            bool prepend = Options.MetaspacePrependScheme == "always" || (Options.MetaspacePrependScheme == "first" && atTextStart);
            if (prepend && !run.StartsWith(meta)) run = meta + run;
            if (Options.MetaspaceSplit)
            {
                // Each '▁' starts a word (HF MergedWithNext).
                int start = 0;
                for (int i = 1; i <= run.Length; i++)
                {
                    if (i == run.Length || run[i] == meta) { EncodeWord(run.AsSpan(start, i - start), ids); start = i; }
                }
                return;
            }
        }
        if (Options.SplitAfter is { Length: > 0 } delimiter)
        {
            int start = 0;
            for (int at; (at = run.IndexOf(delimiter, start, StringComparison.Ordinal)) >= 0; start = at + delimiter.Length)
                EncodeWord(run.AsSpan(start, at + delimiter.Length - start), ids);
            EncodeWord(run.AsSpan(start), ids);
            return;
        }
        EncodeWord(run, ids);
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (word.IsEmpty) return;
        if (_cache.TryGet(word, out var cached)) { ids.AddRange(cached); return; }
        int[] result;
        if (Options.IgnoreMerges && _vocabLookup.TryGetValue(word, out int whole))
        {
            result = [whole];
        }
        else
        {
            var symbols = InitialSymbols(word).ToArray();
            int n = _mergeTable.Apply(symbols);
            result = n == symbols.Length ? symbols : symbols[..n];
        }
        _cache.Add(word, result);
        ids.AddRange(result);
    }

    // One symbol per character; a character not in the vocabulary → its UTF-8 byte tokens, else <unk>.
    private List<int> InitialSymbols(ReadOnlySpan<char> word)
    {
        var symbols = new List<int>(word.Length);
        Span<char> chars = stackalloc char[2];
        Span<byte> bytes = stackalloc byte[4];
        bool previousUnk = false;
        foreach (var rune in word.EnumerateRunes())
        {
            int len = rune.EncodeToUtf16(chars);
            if (_vocabLookup.TryGetValue(chars[..len], out int id)) { symbols.Add(id); previousUnk = false; continue; }
            if (Options.ByteFallback)
            {
                int count = rune.EncodeToUtf8(bytes);
                for (int i = 0; i < count; i++) symbols.Add(_byteToId[bytes[i]]);
                previousUnk = false;
                continue;
            }
            if (_unkId is not int unk) throw new InvalidOperationException($"character U+{rune.Value:X4} is not in the vocabulary and there is no unk token");
            if (!(Options.FuseUnk && previousUnk)) symbols.Add(unk);
            previousUnk = true;
        }
        return symbols;
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] is null)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} is not in this vocabulary (size {VocabSize})");
            if (skipSpecialTokens && _isSpecial[id]) continue;
            tokens.Add(_idToToken[id]!);
        }
        return SentencePieceDecoding.Run(Options.Decoder, tokens);
    }

    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    private int? IdOf(string? token) => token is null ? null : TokenToId(token);
}
