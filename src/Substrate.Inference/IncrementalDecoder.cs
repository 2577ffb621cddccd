using Substrate.Tokenizers;

namespace Substrate.Inference;

/// <summary>
/// Turns a stream of token ids into a stream of text pieces: a piece is released only when it is
/// final — no half of a multi-byte UTF-8 character split across tokens (decoded as U+FFFD until
/// complete), no text that could be the start of a stop string. At the first stop string the
/// text before it is released and <see cref="Stopped"/> is set; the stop string itself is dropped
/// (<see cref="StopRules"/> finds stop strings and says what to hold back).
/// </summary>
public sealed class IncrementalDecoder(ITokenizer tokenizer, StopRules stops)
{
    public IncrementalDecoder(ITokenizer tokenizer, IReadOnlyList<string>? stopStrings = null) : this(tokenizer, StopRules.Strings(stopStrings)) { }

    private readonly List<int> ids = [];
    private string text = "";
    private int released;

    public bool Stopped { get; private set; }

    /// <summary>All text released so far.</summary>
    public string Text => text[..released];

    /// <summary>Adds one token; returns the text that became final ("" if none).</summary>
    public string Push(int id)
    {
        if (Stopped) return "";
        ids.Add(id);
        text = tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids), skipSpecialTokens: true);
        var stopAt = stops.FirstStop(text, released);
        if (stopAt >= 0)
        {
            Stopped = true;
            text = text[..stopAt];
            return Release(stopAt);
        }
        var safe = text.Length;
        while (safe > released && text[safe - 1] == '\uFFFD') safe--; // an incomplete UTF-8 sequence, so far
        safe -= stops.HeldBack(text, released, safe);
        return Release(safe);
    }

    /// <summary>At the end of generation: everything not yet released (a stop-string prefix that never completed, a final U+FFFD).</summary>
    public string Flush() => Release(text.Length);

    private string Release(int upTo)
    {
        if (upTo <= released) return "";
        var piece = text[released..upTo];
        released = upTo;
        return piece;
    }
}
