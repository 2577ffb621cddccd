using System.Globalization;
using System.Text;

namespace Substrate.Tokenizers.ChatTemplates;

/// <summary>Jinja's undefined value: prints as "", is false, is not defined.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Value = new();
    public override string ToString() => "";
}

/// <summary>The exception a template raises with <c>raise_exception('…')</c>.</summary>
public sealed class ChatTemplateException(string message) : FormatException(message);

/// <summary>
/// Evaluates the tree with Python/Jinja semantics on plain .NET values: string, long, double, bool, null,
/// <see cref="List{T}"/> of object?, <see cref="Dictionary{TKey,TValue}"/> of string → object?.
/// </summary>
internal sealed class JinjaRenderer
{
    private readonly List<Dictionary<string, object?>> scopes;
    private readonly Func<DateTime> now;
    private StringBuilder output = new();

    /// <param name="now">The clock of <c>strftime_now</c> (local time, as transformers.js's); injectable for tests.</param>
    public JinjaRenderer(Dictionary<string, object?> globals, Func<DateTime>? now = null)
    {
        scopes = [globals];
        this.now = now ?? (() => DateTime.Now);
    }

    /// <summary>A macro defined by <c>{% macro %}</c>, with the scope it was defined in.</summary>
    private sealed record Macro(MacroNode Node);

    public string Render(List<Node> nodes)
    {
        Run(nodes);
        return output.ToString();
    }

    private void Run(List<Node> nodes)
    {
        foreach (var node in nodes)
            switch (node)
            {
                case TextNode t: output.Append(t.Text); break;
                case OutputNode o: output.Append(Str(Eval(o.Value))); break;
                case IfNode i:
                    {
                        var branch = i.Branches.FirstOrDefault(b => Truthy(Eval(b.Condition)));
                        Run(branch.Body ?? i.Else);
                        break;
                    }
                case SetNode s:
                    {
                        var value = Eval(s.Value);
                        if (s.Attribute is null) scopes[^1][s.Name] = value;
                        else if (Lookup(s.Name) is Dictionary<string, object?> ns) ns[s.Attribute] = value;
                        else throw new ChatTemplateException($"chat template: cannot set attribute '{s.Attribute}' of '{s.Name}'");
                        break;
                    }
                case ForNode f: For(f); break;
                case MacroNode m: scopes[^1][m.Name] = new Macro(m); break;
            }
    }

    private void For(ForNode f)
    {
        var items = Iterate(Eval(f.Iterable)).ToList();
        if (f.Filter is not null)
            items = items.Where(item => { using var _ = Push(Bind(f.Targets, item)); return Truthy(Eval(f.Filter)); }).ToList();
        if (items.Count == 0) { Run(f.Else); return; }
        for (int i = 0; i < items.Count; i++)
        {
            var vars = Bind(f.Targets, items[i]);
            vars["loop"] = new Dictionary<string, object?>
            {
                ["index"] = (long)i + 1, ["index0"] = (long)i, ["first"] = i == 0, ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
                ["previtem"] = i > 0 ? items[i - 1] : Undefined.Value, ["nextitem"] = i + 1 < items.Count ? items[i + 1] : Undefined.Value,
            };
            using var _ = Push(vars);
            Run(f.Body);
        }
    }

    private static Dictionary<string, object?> Bind(string[] targets, object? item)
    {
        var vars = new Dictionary<string, object?>();
        if (targets.Length == 1) { vars[targets[0]] = item; return vars; }
        var parts = Iterate(item).ToList();
        if (parts.Count != targets.Length) throw new ChatTemplateException($"chat template: cannot unpack {parts.Count} values into {targets.Length}");
        for (int i = 0; i < targets.Length; i++) vars[targets[i]] = parts[i];
        return vars;
    }

    private IDisposable Push(Dictionary<string, object?> vars)
    {
        scopes.Add(vars);
        return new Pop(scopes);
    }

    private sealed class Pop(List<Dictionary<string, object?>> scopes) : IDisposable
    {
        public void Dispose() => scopes.RemoveAt(scopes.Count - 1);
    }

    private object? Lookup(string name)
    {
        for (int i = scopes.Count - 1; i >= 0; i--)
            if (scopes[i].TryGetValue(name, out var v)) return v;
        return Undefined.Value;
    }

    private object? Eval(Expr e) => e switch
    {
        Literal l => l.Value,
        Name n => Lookup(n.Id),
        ListExpr l => l.Items.Select(Eval).ToList(),
        DictExpr d => d.Items.ToDictionary(kv => Str(Eval(kv.Key)), kv => Eval(kv.Value)),
        Attribute a => Member(Eval(a.Target), a.Name),
        Index i => Item(Eval(i.Target), Eval(i.Key)),
        Slice s => SliceOf(Eval(s.Target), s.Start is null ? null : Eval(s.Start), s.Stop is null ? null : Eval(s.Stop), s.Step is null ? null : Eval(s.Step)),
        Call c => Invoke(c),
        Filter { Name: "tojson" } f => ToJson(Eval(f.Target), f.Args.Select(Eval).ToList(), f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value))),
        Filter f => ApplyFilter(Eval(f.Target), f.Name, f.Args.Select(Eval).ToList()),
        Test t => ApplyTest(Eval(t.Target), t.Name, t.Args.Select(Eval).ToList()) != t.Negated,
        Unary { Op: "not" } u => !Truthy(Eval(u.Operand)),
        Unary { Op: "-" } u => Eval(u.Operand) switch { long x => (object)(-x), double x => (object)(-x), var x => throw Type("negate", x) },
        Binary { Op: "and" } b => Truthy(Eval(b.Left)) ? Eval(b.Right) : Eval(b.Left),
        Binary { Op: "or" } b => Eval(b.Left) is var l && Truthy(l) ? l : Eval(b.Right),
        Binary b => BinaryOp(b.Op, Eval(b.Left), Eval(b.Right)),
        Conditional c => Truthy(Eval(c.Condition)) ? Eval(c.Then) : c.Else is null ? Undefined.Value : Eval(c.Else),
        _ => throw new InvalidOperationException(e.GetType().Name),
    };

    private static object? Member(object? target, string name) => target switch
    {
        Dictionary<string, object?> d => d.TryGetValue(name, out var v) ? v : Undefined.Value,
        _ => new BoundMethod(target, name), // methods of strings, lists and dicts, resolved when called
    };

    private sealed record BoundMethod(object? Target, string Name);

    private static object? Item(object? target, object? key) => (target, key) switch
    {
        (Dictionary<string, object?> d, string k) => d.TryGetValue(k, out var v) ? v : Undefined.Value,
        (List<object?> l, long i) => i < -l.Count || i >= l.Count ? Undefined.Value : l[(int)(i < 0 ? i + l.Count : i)],
        (string s, long i) => i < -s.Length || i >= s.Length ? Undefined.Value : s[(int)(i < 0 ? i + s.Length : i)].ToString(),
        (Undefined, _) => Undefined.Value,
        _ => Undefined.Value,
    };

    private static object? SliceOf(object? target, object? start, object? stop, object? step)
    {
        long st = step is long s ? s : 1;
        if (st == 0) throw new ChatTemplateException("chat template: slice step cannot be zero");
        List<object?> items = target switch
        {
            List<object?> l => l,
            string str => str.Select(c => (object?)c.ToString()).ToList(),
            _ => throw Type("slice", target),
        };
        int n = items.Count;
        long Clamp(object? v, long whenNull)
        {
            if (v is not long x) return whenNull;
            if (x < 0) x += n;
            return st > 0 ? Math.Clamp(x, 0, n) : Math.Clamp(x, -1, n - 1);
        }
        long from = Clamp(start, st > 0 ? 0 : n - 1), to = Clamp(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = from; st > 0 ? i < to : i > to; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result) : result;
    }

    private object? Invoke(Call c)
    {
        var args = c.Args.Select(Eval).ToList();
        if (c.Function is Name { Id: "raise_exception" })
            throw new ChatTemplateException(args.Count > 0 ? Str(args[0]) : "chat template raised an exception");
        if (c.Function is Name { Id: "range" })
        {
            long a = args.Count > 1 ? (long)args[0]! : 0, b = (long)args[args.Count > 1 ? 1 : 0]!;
            var list = new List<object?>();
            for (long i = a; i < b; i++) list.Add(i);
            return list;
        }
        if (c.Function is Name { Id: "strftime_now" }) return Strftime(now(), args.Count > 0 ? Str(args[0]) : "");
        if (c.Function is Name fn && Lookup(fn.Id) is Macro macro) return CallMacro(macro.Node, args, c.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value)));
        if (c.Function is Name { Id: "namespace" })
            return c.Kwargs.ToDictionary(kv => kv.Name, kv => Eval(kv.Value));
        if (Eval(c.Function) is not BoundMethod m) throw new ChatTemplateException($"chat template: '{c.Function}' is not callable");
        return (m.Target, m.Name) switch
        {
            (string s, "strip") => args.Count > 0 ? s.Trim(Str(args[0]).ToCharArray()) : s.Trim(),
            (string s, "lstrip") => args.Count > 0 ? s.TrimStart(Str(args[0]).ToCharArray()) : s.TrimStart(),
            (string s, "rstrip") => args.Count > 0 ? s.TrimEnd(Str(args[0]).ToCharArray()) : s.TrimEnd(),
            (string s, "upper") => s.ToUpperInvariant(),
            (string s, "lower") => s.ToLowerInvariant(),
            (string s, "title") => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(s.ToLowerInvariant()),
            (string s, "startswith") => s.StartsWith(Str(args[0]), StringComparison.Ordinal),
            (string s, "endswith") => s.EndsWith(Str(args[0]), StringComparison.Ordinal),
            (string s, "replace") => s.Replace(Str(args[0]), Str(args[1]), StringComparison.Ordinal),
            (string s, "split") => (args.Count > 0 ? s.Split(Str(args[0])) : s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                .Select(x => (object?)x)
                .ToList(),
            (Dictionary<string, object?> d, "items") => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
            (Dictionary<string, object?> d, "keys") => d.Keys.Select(k => (object?)k).ToList(),
            (Dictionary<string, object?> d, "values") => d.Values.ToList(),
            (Dictionary<string, object?> d, "get") => d.TryGetValue(Str(args[0]), out var v) ? v : args.Count > 1 ? args[1] : null,
            _ => throw new ChatTemplateException($"chat template: unsupported method '{m.Name}' on {TypeName(m.Target)}"),
        };
    }

    // A macro's output as a string: its parameters bound (positional, then by name, then defaults) in a scope of its own.
    private string CallMacro(MacroNode macro, List<object?> args, Dictionary<string, object?> kwargs)
    {
        var vars = new Dictionary<string, object?>();
        for (int i = 0; i < macro.Parameters.Count; i++)
        {
            var (name, fallback) = macro.Parameters[i];
            vars[name] = i < args.Count ? args[i] : kwargs.TryGetValue(name, out var v) ? v : fallback is null ? Undefined.Value : Eval(fallback);
        }
        var saved = output;
        output = new StringBuilder();
        try
        {
            using var _ = Push(vars);
            Run(macro.Body);
            return output.ToString();
        }
        finally
        {
            output = saved;
        }
    }

    // @huggingface/jinja's strftime: %Y %m %d %b %B %H %M %% (English month names); any other code stays as written.
    private static string Strftime(DateTime t, string format) => System.Text.RegularExpressions.Regex.Replace(format, "%[YmdbBHM%]", m => m.Value switch
    {
        "%Y" => t.Year.ToString(CultureInfo.InvariantCulture),
        "%m" => t.Month.ToString("00", CultureInfo.InvariantCulture),
        "%d" => t.Day.ToString("00", CultureInfo.InvariantCulture),
        "%b" => CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedMonthName(t.Month),
        "%B" => CultureInfo.InvariantCulture.DateTimeFormat.GetMonthName(t.Month),
        "%H" => t.Hour.ToString("00", CultureInfo.InvariantCulture),
        "%M" => t.Minute.ToString("00", CultureInfo.InvariantCulture),
        _ => "%",
    });

    private static object? ApplyFilter(object? value, string name, List<object?> args) => name switch
    {
        // String filters refuse other types, as @huggingface/jinja does (Python's Jinja would print None as "None").
        "trim" => StringArgument(value, name).Trim(),
        "upper" => StringArgument(value, name).ToUpperInvariant(),
        "lower" => StringArgument(value, name).ToLowerInvariant(),
        "string" => Str(value),
        "length" or "count" => value switch
        {
            string s => (long)s.Length, List<object?> l => (long)l.Count, Dictionary<string, object?> d => (long)d.Count, _ => throw Type("length of", value),
        },
        "first" => Iterate(value).FirstOrDefault(Undefined.Value),
        "last" => Iterate(value).LastOrDefault(Undefined.Value),
        "reverse" => value is string s ? new string(s.Reverse().ToArray()) : Iterate(value).Reverse().ToList(),
        "join" => string.Join(args.Count > 0 ? Str(args[0]) : "", Iterate(value).Select(Str)),
        "default" or "d" => value is Undefined || (args.Count > 1 && Truthy(args[1]) && !Truthy(value)) ? (args.Count > 0 ? args[0] : "") : value,
        "int" => value switch { long l => l, double d => (long)d, string s when long.TryParse(s, out var l) => l, _ => 0L },
        _ => throw new ChatTemplateException($"chat template: unsupported filter '{name}'"),
    };

    // tojson(indent=None, ensure_ascii=False, sort_keys=False), as @huggingface/jinja reads them.
    private static string ToJson(object? value, List<object?> args, Dictionary<string, object?> kwargs)
    {
        object? indent = args.Count > 0 ? args[0] : kwargs.GetValueOrDefault("indent");
        return JinjaValues.ToJson(value, indent is long n ? (int)n : null, Truthy(kwargs.GetValueOrDefault("ensure_ascii")),
            Truthy(kwargs.GetValueOrDefault("sort_keys")));
    }

    private static string StringArgument(object? value, string filter) =>
        value as string ?? throw new ChatTemplateException($"chat template: cannot apply filter '{filter}' to {TypeName(value)}");

    private static bool ApplyTest(object? value, string name, List<object?> args) => name switch
    {
        "defined" => value is not Undefined,
        "undefined" => value is Undefined,
        "none" => value is null,
        "string" => value is string,
        "number" => value is long or double,
        "integer" => value is long,
        "boolean" => value is bool,
        "mapping" => value is Dictionary<string, object?>,
        "iterable" or "sequence" => value is string or List<object?> or Dictionary<string, object?>,
        "true" => value is true,
        "false" => value is false,
        "even" => value is long l && l % 2 == 0,
        "odd" => value is long l && l % 2 != 0,
        "equalto" or "eq" or "sameas" => Equal(value, args[0]),
        _ => throw new ChatTemplateException($"chat template: unsupported test '{name}'"),
    };

    private static object? BinaryOp(string op, object? l, object? r)
    {
        switch (op)
        {
            case "==": return Equal(l, r);
            case "!=": return !Equal(l, r);
            case "~": return Str(l) + Str(r);
            case "in":
                return r switch
                {
                    string s => s.Contains(Str(l), StringComparison.Ordinal),
                    List<object?> list => list.Any(x => Equal(x, l)),
                    Dictionary<string, object?> d => l is string k && d.ContainsKey(k),
                    _ => throw Type("'in'", r),
                };
        }
        if (op == "+")
        {
            if (l is string ls && r is string rs) return ls + rs;
            if (l is List<object?> ll && r is List<object?> rl) return ll.Concat(rl).ToList();
            if (l is string or List<object?> || r is string or List<object?>)
                throw new ChatTemplateException($"chat template: cannot add {TypeName(l)} and {TypeName(r)}");
        }
        if (op == "*" && l is string str && r is long times) return string.Concat(Enumerable.Repeat(str, (int)Math.Max(0, times)));
        if (op == "%" && l is string format) return PercentFormat(format, r);
        if (l is long a && r is long b)
            return op switch
            {
                "+" => a + b, "-" => a - b, "*" => a * b, "/" => (double)a / b, "//" => (long)Math.Floor((double)a / b),
                "%" => ((a % b) + b) % b, "<" => a < b, ">" => a > b, "<=" => a <= b, ">=" => a >= b,
                _ => throw new InvalidOperationException(op),
            };
        if (l is long or double && r is long or double)
        {
            double x = Convert.ToDouble(l, CultureInfo.InvariantCulture), y = Convert.ToDouble(r, CultureInfo.InvariantCulture);
            return op switch
            {
                "+" => x + y, "-" => x - y, "*" => x * y, "/" => x / y, "//" => Math.Floor(x / y), "%" => x - y * Math.Floor(x / y),
                "<" => x < y, ">" => x > y, "<=" => x <= y, ">=" => x >= y, _ => throw new InvalidOperationException(op),
            };
        }
        if (l is string sl && r is string sr && op is "<" or ">" or "<=" or ">=")
        {
            int c = string.CompareOrdinal(sl, sr);
            return op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 };
        }
        throw new ChatTemplateException($"chat template: cannot apply '{op}' to {TypeName(l)} and {TypeName(r)}");
    }

    private static string PercentFormat(string format, object? args)
    {
        var values = args is List<object?> l ? l : [args];
        int next = 0;
        return System.Text.RegularExpressions.Regex.Replace(format, "%[sd%]", m => m.Value == "%%" ? "%" : Str(values[next++]));
    }

    private static bool Equal(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (Undefined, Undefined) => true,
        (long x, double y) => x == y,
        (double x, long y) => x == y,
        (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
        _ => Equals(a, b),
    };

    internal static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    internal static string Str(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        string s => s,
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d == Math.Floor(d) && Math.Abs(d) < 1e15 ? d.ToString("0.0", CultureInfo.InvariantCulture) : d.ToString("R", CultureInfo.InvariantCulture),
        List<object?> l => "[" + string.Join(", ", l.Select(x => x is string s ? $"'{s}'" : Str(x))) + "]",
        Dictionary<string, object?> d => "{" + string.Join(", ", d.Select(kv => $"'{kv.Key}': {(kv.Value is string s ? $"'{s}'" : Str(kv.Value))}")) + "}",
        _ => v.ToString() ?? "",
    };

    private static IEnumerable<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        Dictionary<string, object?> d => d.Keys,
        string s => s.Select(c => (object?)c.ToString()),
        Undefined => [],
        _ => throw Type("iterate over", v),
    };

    private static string TypeName(object? v) => v switch
    {
        null => "none", Undefined => "undefined", string => "string", long => "int", double => "float", bool => "bool",
        List<object?> => "list", Dictionary<string, object?> => "dict", _ => v.GetType().Name,
    };

    private static ChatTemplateException Type(string what, object? v) => new($"chat template: cannot {what} {TypeName(v)}");
}
