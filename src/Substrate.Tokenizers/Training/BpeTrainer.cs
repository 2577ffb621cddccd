using System.Text;
using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers.Training;

/// <summary>
/// Trains a byte-level BPE tokenizer (GPT-2 / Llama 3 family) the way HF tokenizers' trainer does:
/// count distinct pre-tokens in parallel, then merge with pair counts kept up to date incrementally,
/// a pair → words index, and a max-heap with lazy deletion. Ties go to the smaller (left id, right id),
/// so a corpus always gives the same merges. Ids: 0–255 are the bytes, then merges in order, then
/// the special tokens.
/// </summary>
public static class BpeTrainer
{
    public static ByteLevelBpeTokenizer Train(IEnumerable<string> documents, BpeTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var specials = options.SpecialTokens.Distinct().ToArray();
        int minimum = 256 + specials.Length;
        if (options.VocabSize < minimum)
            throw new ArgumentException(
                $"vocab size {options.VocabSize} is below the minimum {minimum} (256 byte tokens + {specials.Length} special tokens)", nameof(options));
        foreach (var name in new[] { options.BosToken, options.EosToken, options.PadToken })
        {
            if (name is not null && !specials.Contains(name))
                throw new ArgumentException($"'{name}' is named as BOS/EOS/PAD but is not among the special tokens", nameof(options));
        }

        var regex = PreTokenizerPatterns.ToRegex(options.Pattern);
        var counts = WordCounter.Count(documents, regex,
            options.Progress is null ? null : chars => options.Progress(new BpeTrainingProgress("count", chars, 0)));
        var state = new MergeState(counts);
        var merges = state.Run(options.VocabSize - minimum, options.MinFrequency,
            options.Progress is null ? null : (done, total) => options.Progress(new BpeTrainingProgress("merge", done, total)));

        var tokenBytes = Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).ToList();
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ToChar((byte)b).ToString()] = b;
        var mergeStrings = new List<(string, string)>(merges.Count);
        foreach (var (left, right) in merges)
        {
            mergeStrings.Add((ByteLevelAlphabet.ToString(tokenBytes[left]), ByteLevelAlphabet.ToString(tokenBytes[right])));
            tokenBytes.Add([.. tokenBytes[left], .. tokenBytes[right]]);
            vocab[ByteLevelAlphabet.ToString(tokenBytes[^1])] = tokenBytes.Count - 1;
        }
        var added = specials.Select((s, i) => new AddedToken(tokenBytes.Count + i, s)).ToArray();
        return new ByteLevelBpeTokenizer(vocab, mergeStrings, added, new ByteLevelBpeOptions
        {
            Pattern = options.Pattern,
            IgnoreMerges = true,
            PrefixTokens = options.BosToken is null ? [] : [options.BosToken],
            BosToken = options.BosToken, EosToken = options.EosToken, PadToken = options.PadToken,
        });
    }

    /// <summary>The distinct words as symbol arrays, with the pair statistics the merge loop keeps current.</summary>
    private sealed class MergeState
    {
        private readonly int[][] _words;
        private readonly int[] _lengths;
        private readonly long[] _frequencies;
        private readonly Dictionary<long, long> _pairCounts = new();
        private readonly Dictionary<long, List<int>> _pairWords = new();
        // Max count first, then the smaller pair: priority (−count, pair key).
        private readonly PriorityQueue<long, (long NegCount, long Pair)> _queue = new();

        public MergeState(Dictionary<string, long> counts)
        {
            _words = new int[counts.Count][];
            _lengths = new int[counts.Count];
            _frequencies = new long[counts.Count];
            int w = 0;
            foreach (var (word, frequency) in counts)
            {
                var bytes = Encoding.UTF8.GetBytes(word);
                _words[w] = Array.ConvertAll(bytes, b => (int)b);
                _lengths[w] = bytes.Length;
                _frequencies[w] = frequency;
                for (int i = 0; i + 1 < bytes.Length; i++) AddPair(Key(bytes[i], bytes[i + 1]), frequency, w);
                w++;
            }
            foreach (var (pair, count) in _pairCounts) _queue.Enqueue(pair, (-count, pair));
        }

        private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

        private void AddPair(long pair, long delta, int word)
        {
            _pairCounts[pair] = _pairCounts.GetValueOrDefault(pair) + delta;
            if (delta <= 0) return;
            if (!_pairWords.TryGetValue(pair, out var list)) _pairWords[pair] = list = new List<int>();
            if (list.Count == 0 || list[^1] != word) list.Add(word);
        }

        /// <summary>Performs up to <paramref name="maxMerges"/> merges; returns them as (left id, right id), new id = 256 + index.</summary>
        public List<(int Left, int Right)> Run(int maxMerges, int minFrequency, Action<long, long>? progress)
        {
            var merges = new List<(int, int)>(maxMerges);
            var touched = new HashSet<long>();
            while (merges.Count < maxMerges && _queue.TryDequeue(out long pair, out var priority))
            {
                long current = _pairCounts.GetValueOrDefault(pair);
                if (-priority.NegCount != current)
                {
                    // Stale: counts only fall, so re-queue at the true count and look again.
                    if (current > 0) _queue.Enqueue(pair, (-current, pair));
                    continue;
                }
                if (current < Math.Max(1, minFrequency)) break;
                int left = (int)(pair >> 32), right = (int)pair, merged = 256 + merges.Count;
                merges.Add((left, right));
                touched.Clear();
                foreach (int w in _pairWords[pair]) MergeInWord(w, left, right, merged, touched);
                _pairWords.Remove(pair);
                _pairCounts.Remove(pair);
                foreach (long p in touched)
                {
                    long c = _pairCounts.GetValueOrDefault(p);
                    if (c > 0) _queue.Enqueue(p, (-c, p));
                }
                if (progress is not null && merges.Count % 256 == 0) progress(merges.Count, maxMerges);
            }
            progress?.Invoke(merges.Count, maxMerges);
            return merges;
        }

        // Replaces each (left, right) in the word by merged, left to right, updating the counts of the
        // pairs around it. "prev" is the already-rewritten symbol, so overlapping runs (a b a b) net out right.
        private void MergeInWord(int w, int left, int right, int merged, HashSet<long> touched)
        {
            int[] s = _words[w];
            int n = _lengths[w], outCount = 0;
            long f = _frequencies[w];
            for (int i = 0; i < n;)
            {
                if (i + 1 < n && s[i] == left && s[i + 1] == right)
                {
                    _pairCounts[Key(left, right)] -= f;
                    if (outCount > 0)
                    {
                        int prev = s[outCount - 1];
                        AddPair(Key(prev, left), -f, w);
                        AddPair(Key(prev, merged), f, w);
                        touched.Add(Key(prev, merged));
                    }
                    if (i + 2 < n)
                    {
                        int next = s[i + 2];
                        AddPair(Key(right, next), -f, w);
                        AddPair(Key(merged, next), f, w);
                        touched.Add(Key(merged, next));
                    }
                    s[outCount++] = merged;
                    i += 2;
                }
                else
                {
                    s[outCount++] = s[i++];
                }
            }
            _lengths[w] = outCount;
        }
    }
}
