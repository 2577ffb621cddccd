using System.Buffers;
using System.Text;
using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers;

/// <summary>
/// Byte-level BPE (GPT-2, Llama 3, tiktoken ranks, and what <see cref="Training.BpeTrainer"/> makes):
/// text → regex pre-tokens → UTF-8 bytes → merges. Every byte has a token, so nothing is unknown.
/// Invalid UTF-16 (a lone surrogate) is encoded as U+FFFD, as any UTF-8 encoder does; that is the one
/// case where decode(encode(s)) differs from s. Thread-safe; a pre-token cache makes repeated words cheap.
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    private readonly Dictionary<string, int> _tokenToId;
    // BPE tokens only (alphabet strings), for ignore_merges' whole-pre-token lookup by span.
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _bpeTokenLookup;
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _idToBytes;
    private readonly bool[] _isSpecial;
    private readonly int[] _byteToId = new int[256];
    private readonly MergeTable _mergeTable;
    private readonly RegexPreTokenizer _preTokenizer;
    private readonly UnicodeNormalizer? _normalizer;
    private readonly AddedTokenSplitter _addedSplitter;
    private readonly int[] _prefixIds, _suffixIds;
    private readonly PreTokenCache _cache = new();

    /// <summary>Builds from a HF-style vocabulary (alphabet strings, see <see cref="ByteLevelAlphabet"/>) and ordered merges.</summary>
    public ByteLevelBpeTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        IEnumerable<AddedToken> addedTokens, ByteLevelBpeOptions? options = null)
        : this(vocab, BuildMergeTable(vocab, merges), merges, addedTokens, options)
    {
    }

    internal ByteLevelBpeTokenizer(IReadOnlyDictionary<string, int> vocab, MergeTable mergeTable,
        IReadOnlyList<(string Left, string Right)>? merges, IEnumerable<AddedToken> addedTokens, ByteLevelBpeOptions? options)
    {
        Options = options ?? new ByteLevelBpeOptions();
        Vocab = vocab;
        Merges = merges;
        AddedTokens = addedTokens.OrderBy(t => t.Id).ToArray();
        _mergeTable = mergeTable;
        _preTokenizer = new RegexPreTokenizer([.. Options.PrePatterns, Options.Pattern]);
        _normalizer = Options.Normalization is { } form ? new UnicodeNormalizer(form) : null;

        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, AddedTokens.Count == 0 ? 0 : AddedTokens.Max(t => t.Id) + 1);
        VocabSize = size;
        _idToToken = new string?[size];
        _idToBytes = new byte[]?[size];
        _isSpecial = new bool[size];
        _tokenToId = new Dictionary<string, int>(vocab.Count + AddedTokens.Count, StringComparer.Ordinal);
        var addedContents = AddedTokens.Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        foreach (var (token, id) in vocab)
        {
            _tokenToId[token] = id;
            _idToToken[id] = token;
            // An added token may also sit in the vocabulary as itself (DeepSeek V3's specials): its bytes are its UTF-8, set below.
            _idToBytes[id] = ByteLevelAlphabet.ToBytes(token) ?? (addedContents.Contains(token) ? null
                : throw new InvalidDataException($"vocabulary token '{token}' (id {id}) has characters outside the byte-level alphabet"));
        }
        foreach (var t in AddedTokens)
        {
            _tokenToId[t.Content] = t.Id;
            _idToToken[t.Id] = t.Content;
            _idToBytes[t.Id] = Encoding.UTF8.GetBytes(t.Content);
            _isSpecial[t.Id] = t.Special;
        }
        _bpeTokenLookup = new Dictionary<string, int>(vocab, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteLevelAlphabet.ToChar((byte)b).ToString(), out _byteToId[b]))
                throw new InvalidDataException($"byte-level vocabulary lacks the token for byte 0x{b:X2}");
        }
        _addedSplitter = new AddedTokenSplitter(AddedTokens);
        _prefixIds = Options.PrefixTokens.Select(RequireId).ToArray();
        _suffixIds = Options.SuffixTokens.Select(RequireId).ToArray();
        Special = new SpecialTokenIds(OptionalId(Options.BosToken), OptionalId(Options.EosToken), OptionalId(Options.PadToken));
    }

    public ByteLevelBpeOptions Options { get; }

    /// <summary>The BPE vocabulary (alphabet strings → ids), added tokens excluded.</summary>
    public IReadOnlyDictionary<string, int> Vocab { get; }

    /// <summary>The merges in rank order; null for tiktoken ranks, which define merges by token rank instead.</summary>
    public IReadOnlyList<(string Left, string Right)>? Merges { get; }

    public IReadOnlyList<AddedToken> AddedTokens { get; }

    public int VocabSize { get; }

    public SpecialTokenIds Special { get; }

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_prefixIds);
        if (_addedSplitter.MatchesNothing(addSpecialTokens))
        {
            EncodeRun(text, ids);
        }
        else
        {
            var segments = new List<AddedTokenSplitter.Segment>();
            _addedSplitter.Split(text, addSpecialTokens, segments);
            foreach (var s in segments)
            {
                if (s.Token is not null) ids.Add(s.Token.Id);
                else EncodeRun(text.AsSpan(s.Start, s.Length), ids);
            }
        }
        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids.ToArray();
    }

    [ThreadStatic] private static List<(int Start, int Length)>? t_pieces;

    private void EncodeRun(ReadOnlySpan<char> run, List<int> ids)
    {
        if (_normalizer is not null) run = _normalizer.Normalize(run);
        if (Options.AddPrefixSpace && run.Length > 0 && run[0] != ' ') run = string.Concat(" ", run);
        var pieces = t_pieces ??= new List<(int, int)>();
        pieces.Clear();
        _preTokenizer.Split(run, pieces);
        foreach (var (start, length) in pieces)
        {
            var piece = run.Slice(start, length);
            if (!_cache.TryGet(piece, out var pieceIds))
            {
                pieceIds = EncodePiece(piece);
                _cache.Add(piece, pieceIds);
            }
            ids.AddRange(pieceIds);
        }
    }

    /// <summary>One pre-token, no cache: UTF-8 bytes → byte tokens → merges.</summary>
    internal int[] EncodePiece(ReadOnlySpan<char> piece)
    {
        int max = Encoding.UTF8.GetMaxByteCount(piece.Length);
        byte[]? rented = max > 512 ? ArrayPool<byte>.Shared.Rent(max) : null;
        try
        {
            Span<byte> bytes = rented ?? stackalloc byte[max];
            int count = Encoding.UTF8.GetBytes(piece, bytes);
            bytes = bytes[..count];
            if (Options.IgnoreMerges && TryWholeToken(bytes, out int whole)) return [whole];
            var symbols = new int[count];
            for (int i = 0; i < count; i++) symbols[i] = _byteToId[bytes[i]];
            int n = _mergeTable.Apply(symbols);
            return n == count ? symbols : symbols[..n];
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private bool TryWholeToken(ReadOnlySpan<byte> bytes, out int id)
    {
        id = 0;
        if (bytes.Length > 256) return false;
        Span<char> chars = stackalloc char[bytes.Length];
        ByteLevelAlphabet.ToChars(bytes, chars);
        return _bpeTokenLookup.TryGetValue(chars, out id);
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        int total = 0;
        foreach (int id in ids) total += BytesOf(id, skipSpecialTokens).Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        try
        {
            int at = 0;
            foreach (int id in ids)
            {
                var b = BytesOf(id, skipSpecialTokens);
                b.CopyTo(buffer.AsSpan(at));
                at += b.Length;
            }
            // Invalid UTF-8 (a partial character at either end of the ids) decodes to U+FFFD, as in HF.
            return Encoding.UTF8.GetString(buffer, 0, at);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private ReadOnlySpan<byte> BytesOf(int id, bool skipSpecial)
    {
        if ((uint)id >= (uint)_idToBytes.Length || _idToBytes[id] is null)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is not in this vocabulary (size {VocabSize})");
        return skipSpecial && _isSpecial[id] ? default : _idToBytes[id];
    }

    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The bytes token <paramref name="id"/> stands for (an added token: its UTF-8).</summary>
    public ReadOnlySpan<byte> TokenBytes(int id) => BytesOf(id, skipSpecial: false);

    /// <summary>Writes tokenizer.json and tokenizer_config.json into <paramref name="directory"/> (see <see cref="Formats.HfTokenizerJsonWriter"/>).</summary>
    public void Save(string directory, long modelMaxLength = 8192) => Formats.HfTokenizerJsonWriter.Save(this, directory, modelMaxLength);

    private int RequireId(string token) =>
        TokenToId(token) ?? throw new InvalidDataException($"post-processor token '{token}' is not in the vocabulary");

    private int? OptionalId(string? token) => token is null ? null : TokenToId(token);

    private static MergeTable BuildMergeTable(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges)
    {
        var table = new MergeTable(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r) || !vocab.TryGetValue(left + right, out int m))
                throw new InvalidDataException($"merge {rank} ('{left}' '{right}') refers to a token missing from the vocabulary");
            table.Add(l, r, rank, m);
        }
        return table;
    }
}
