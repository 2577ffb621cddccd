using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Substrate.Tokenizers.Training;

/// <summary>
/// Step one of BPE training: split every document into pre-tokens and count each distinct one.
/// Documents are spread over all cores, each with its own dictionary, merged at the end; merges then
/// work on the (few hundred thousand) distinct words instead of the text.
/// </summary>
internal static class WordCounter
{
    public static Dictionary<string, long> Count(IEnumerable<string> documents, Regex regex, Action<long>? progress)
    {
        var total = new Dictionary<string, long>(StringComparer.Ordinal);
        var gate = new object();
        long characters = 0;
        Parallel.ForEach(
            documents,
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => new Dictionary<string, long>(StringComparer.Ordinal),
            (document, _, local) =>
            {
                var lookup = local.GetAlternateLookup<ReadOnlySpan<char>>();
                foreach (var m in regex.EnumerateMatches(document))
                {
                    ref long count = ref CollectionsMarshal.GetValueRefOrAddDefault(lookup, document.AsSpan(m.Index, m.Length), out bool _);
                    count++;
                }
                long seen = Interlocked.Add(ref characters, document.Length);
                if (progress is not null && (seen - document.Length) >> 22 != seen >> 22)
                {
                    lock (gate) progress(seen);
                }
                return local;
            },
            local =>
            {
                lock (gate)
                {
                    foreach (var (word, count) in local)
                    {
                        ref long sum = ref CollectionsMarshal.GetValueRefOrAddDefault(total, word, out bool _);
                        sum += count;
                    }
                }
            });
        progress?.Invoke(characters);
        return total;
    }
}
