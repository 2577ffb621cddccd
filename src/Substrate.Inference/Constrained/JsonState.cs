namespace Substrate.Inference.Constrained;

/// <summary>
/// Where a JSON document being written stands, as an immutable stack of frames: <see cref="Feed"/> returns the state
/// after one more character, or null when that character would make the document invalid (or break the schema).
/// Compact JSON only (no whitespace), so a model cannot pad forever; strings, numbers, arrays and free objects have
/// length caps for the same reason (<see cref="MaxString"/>, <see cref="MaxNumber"/>, <see cref="MaxItems"/>).
/// Immutability makes trying a token cheap: keep the old state, feed a copy.
/// </summary>
public sealed class JsonState
{
    public const int MaxString = 128, MaxNumber = 16, MaxItems = 16, MaxDepth = 6;

    private abstract record Frame;
    private sealed record RootFrame(bool Done) : Frame;
    private sealed record ValueFrame(JsonSchemaNode Node) : Frame;
    private enum ObjectStage { AfterOpen, InKey, ExpectColon, InValue, AfterValue, ExpectKey }
    private sealed record ObjectFrame(JsonSchemaNode Node, ObjectStage Stage, int Last, int Count) : Frame;
    private sealed record ArrayFrame(JsonSchemaNode Node, bool AfterValue, int Count) : Frame;
    private sealed record StringFrame(bool Escape, int Length) : Frame;
    private enum NumberStage { Minus, Zero, Int, Dot, Frac, E, ESign, Exp }
    private sealed record NumberFrame(bool Integer, NumberStage Stage, int Length) : Frame;
    /// <summary>One of several exact texts (keys with their quotes, enum values, true/false/null); Tag = which.</summary>
    private sealed record LiteralFrame(IReadOnlyList<(string Text, int Tag)> Candidates, int Matched) : Frame;

    private sealed record Stack(Frame Top, Stack? Rest, int Depth);

    private readonly Stack stack;
    private JsonState(Stack stack) => this.stack = stack;

    public static JsonState Start(JsonSchemaNode schema) =>
        new(new Stack(new ValueFrame(schema), new Stack(new RootFrame(false), null, 0), 1));

    /// <summary>The document is complete: nothing more may follow.</summary>
    public bool IsComplete => stack.Top is RootFrame { Done: true };

    public JsonState? Feed(char c) => Feed(stack, c) is { } next ? new JsonState(next) : null;

    public JsonState? Feed(string text)
    {
        var s = stack;
        foreach (var c in text)
            if (Feed(s, c) is { } next) s = next;
            else return null;
        return new JsonState(s);
    }

    private static Stack Push(Stack s, Frame f) => new(f, s, s.Depth + 1);
    private static Stack Replace(Stack s, Frame f) => new(f, s.Rest, s.Depth);

    private static Stack? Feed(Stack s, char c) => s.Top switch
    {
        ValueFrame v => Start(s.Rest!, v.Node, c),
        StringFrame str => FeedString(s, str, c),
        NumberFrame n => FeedNumber(s, n, c),
        LiteralFrame l => FeedLiteral(s, l, c),
        ObjectFrame o => FeedObject(s, o, c),
        ArrayFrame a => FeedArray(s, a, c),
        _ => null, // a finished root takes nothing
    };

    /// <summary>The first character of a value of schema <paramref name="node"/>, pushed on <paramref name="s"/>.</summary>
    private static Stack? Start(Stack s, JsonSchemaNode node, char c)
    {
        var any = node.Kind == JsonKind.Any;
        var shallow = s.Depth < MaxDepth;
        if (c == '{' && (node.Kind == JsonKind.Object || any && shallow))
            return Push(s, new ObjectFrame(any ? JsonSchemaNode.AnyObject : node, ObjectStage.AfterOpen, -1, 0));
        if (c == '[' && (node.Kind == JsonKind.Array || any && shallow))
            return Push(s, new ArrayFrame(any ? JsonSchemaNode.Any : node.Items ?? JsonSchemaNode.Any, false, 0));
        if (c == '"' && (node.Kind == JsonKind.String || any)) return Push(s, new StringFrame(false, 0));
        if ((c == '-' || char.IsAsciiDigit(c)) && (node.Kind is JsonKind.Number or JsonKind.Integer || any))
            return FeedNumber(Push(s, new NumberFrame(node.Kind == JsonKind.Integer, NumberStage.Minus, 0)), null, c, first: true);
        IReadOnlyList<string>? literals = node.Kind switch
        {
            JsonKind.Boolean => ["true", "false"],
            JsonKind.Null => ["null"],
            JsonKind.Enum => node.Values,
            JsonKind.Any => ["true", "false", "null"],
            _ => null,
        };
        if (literals is null) return null;
        return FeedLiteral(Push(s, new LiteralFrame(literals.Select((t, i) => (t, i)).ToList(), 0)), null, c);
    }

    /// <summary>A child value finished: its parent (now on top) moves on. <paramref name="tag"/>: which literal it was.</summary>
    private static Stack Complete(Stack s, int tag) => s.Top switch
    {
        ObjectFrame { Stage: ObjectStage.InKey } o => Replace(s, o with { Stage = ObjectStage.ExpectColon, Last = o.Node.Free ? o.Last : tag }),
        ObjectFrame o => Replace(s, o with { Stage = ObjectStage.AfterValue, Count = o.Count + 1 }),
        ArrayFrame a => Replace(s, a with { AfterValue = true, Count = a.Count + 1 }),
        _ => Replace(s, new RootFrame(true)),
    };

    private static Stack? FeedString(Stack s, StringFrame str, char c)
    {
        if (str.Escape) return "\"\\/bfnrt".Contains(c) ? Replace(s, new StringFrame(false, str.Length + 1)) : null;
        if (c == '"') return Complete(s.Rest!, -1);
        if (str.Length >= MaxString || c < ' ') return null;
        return Replace(s, new StringFrame(c == '\\', str.Length + 1));
    }

    private static Stack? FeedNumber(Stack s, NumberFrame? n, char c, bool first = false)
    {
        var frame = (NumberFrame)s.Top;
        NumberStage? next = first ? (c == '-' ? NumberStage.Minus : c == '0' ? NumberStage.Zero : NumberStage.Int) : (frame.Stage, c) switch
        {
            (NumberStage.Minus, '0') => NumberStage.Zero,
            (NumberStage.Minus, _) when char.IsAsciiDigit(c) => NumberStage.Int,
            (NumberStage.Int, _) when char.IsAsciiDigit(c) => NumberStage.Int,
            (NumberStage.Zero or NumberStage.Int, '.') when !frame.Integer => NumberStage.Dot,
            (NumberStage.Zero or NumberStage.Int or NumberStage.Frac, 'e' or 'E') when !frame.Integer => NumberStage.E,
            (NumberStage.Dot or NumberStage.Frac, _) when char.IsAsciiDigit(c) => NumberStage.Frac,
            (NumberStage.E, '+' or '-') => NumberStage.ESign,
            (NumberStage.E or NumberStage.ESign or NumberStage.Exp, _) when char.IsAsciiDigit(c) => NumberStage.Exp,
            _ => null,
        };
        if (next is { } stage && frame.Length < MaxNumber) return Replace(s, frame with { Stage = stage, Length = frame.Length + 1 });
        if (first || frame.Stage is not (NumberStage.Zero or NumberStage.Int or NumberStage.Frac or NumberStage.Exp)) return null;
        return Feed(Complete(s.Rest!, -1), c); // the number ended before c: c belongs to the parent
    }

    private static Stack? FeedLiteral(Stack s, LiteralFrame? _, char c)
    {
        var l = (LiteralFrame)s.Top;
        var left = l.Candidates.Where(t => t.Text.Length > l.Matched && t.Text[l.Matched] == c).ToList();
        if (left.Count == 0) return null;
        var matched = l.Matched + 1;
        if (left.Count == 1 && left[0].Text.Length == matched) return Complete(s.Rest!, left[0].Tag);
        return Replace(s, new LiteralFrame(left, matched));
    }

    private static Stack? FeedObject(Stack s, ObjectFrame o, char c)
    {
        switch (o.Stage)
        {
            case ObjectStage.AfterOpen or ObjectStage.AfterValue when c == '}':
                return CanClose(o) ? Complete(s.Rest!, -1) : null;
            case ObjectStage.AfterValue when c == ',':
                return NextKeys(o).Count > 0 ? Replace(s, o with { Stage = ObjectStage.ExpectKey }) : null;
            case ObjectStage.AfterOpen or ObjectStage.ExpectKey when c == '"':
                var keyed = Replace(s, o with { Stage = ObjectStage.InKey });
                if (o.Node.Free) return Push(keyed, new StringFrame(false, 0));
                var keys = NextKeys(o);
                return keys.Count == 0 ? null : Push(keyed, new LiteralFrame(
                    keys.Select(i => (System.Text.Json.JsonSerializer.Serialize(o.Node.Properties[i].Name)[1..], i)).ToList(), 0));
            case ObjectStage.ExpectColon when c == ':':
                var value = o.Node.Free ? JsonSchemaNode.Any : o.Node.Properties[o.Last].Schema;
                return Push(Replace(s, o with { Stage = ObjectStage.InValue }), new ValueFrame(value));
            default:
                return null;
        }
    }

    /// <summary>Property indices that may come next: those after the last written, up to and including the first required one.</summary>
    private static List<int> NextKeys(ObjectFrame o)
    {
        var next = new List<int>();
        if (o.Node.Free) { if (o.Count < MaxItems) next.Add(-1); return next; }
        for (var i = o.Last + 1; i < o.Node.Properties.Count; i++)
        {
            next.Add(i);
            if (o.Node.Required.Contains(o.Node.Properties[i].Name)) break;
        }
        return next;
    }

    private static bool CanClose(ObjectFrame o) =>
        o.Node.Free || o.Node.Properties.Skip(o.Last + 1).All(p => !o.Node.Required.Contains(p.Name));

    private static Stack? FeedArray(Stack s, ArrayFrame a, char c)
    {
        if (c == ']' && (a.Count == 0 || a.AfterValue)) return Complete(s.Rest!, -1);
        if (a.AfterValue) return c == ',' && a.Count < MaxItems ? Push(Replace(s, a with { AfterValue = false }), new ValueFrame(a.Node)) : null;
        if (a.Count > 0) return Start(s, a.Node, c); // after a comma
        return Start(s, a.Node, c);                  // the first item
    }
}
