namespace Substrate.Tokenizers.ChatTemplates;

// The syntax tree of the Jinja subset chat templates use.
internal abstract record Node;
internal sealed record TextNode(string Text) : Node;
internal sealed record OutputNode(Expr Value) : Node;
internal sealed record ForNode(string[] Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node> Else) : Node;
internal sealed record IfNode(List<(Expr Condition, List<Node> Body)> Branches, List<Node> Else) : Node;
internal sealed record SetNode(string Name, string? Attribute, Expr Value) : Node;
internal sealed record MacroNode(string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body) : Node;

internal abstract record Expr;
internal sealed record Literal(object? Value) : Expr;
internal sealed record Name(string Id) : Expr;
internal sealed record ListExpr(List<Expr> Items) : Expr;
internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items) : Expr;
internal sealed record Attribute(Expr Target, string Name) : Expr;
internal sealed record Index(Expr Target, Expr Key) : Expr;
internal sealed record Slice(Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr;
internal sealed record Call(Expr Function, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
internal sealed record Filter(Expr Target, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
internal sealed record Test(Expr Target, string Name, bool Negated, List<Expr> Args) : Expr;
internal sealed record Unary(string Op, Expr Operand) : Expr;
internal sealed record Binary(string Op, Expr Left, Expr Right) : Expr;
internal sealed record Conditional(Expr Condition, Expr Then, Expr? Else) : Expr;

/// <summary>Builds the tree: statements from the pieces, expressions by precedence (Jinja's, filters tightest).</summary>
internal sealed class JinjaParser
{
    private readonly List<Piece> pieces;
    private int at;

    private JinjaParser(List<Piece> pieces) => this.pieces = pieces;

    public static List<Node> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Split(source));
        var body = parser.Block(out var end);
        if (end is not null) throw new FormatException($"chat template: unexpected '{{% {end} %}}'");
        return body;
    }

    /// <summary>Nodes until an end/else tag (returned in <paramref name="end"/> with its tokens) or the end of the template.</summary>
    private List<Node> Block(out string? end) => Block(out end, out _);

    private List<Node> Block(out string? end, out ExprParser? endTag)
    {
        var nodes = new List<Node>();
        while (at < pieces.Count)
        {
            var piece = pieces[at++];
            switch (piece)
            {
                case TextPiece t: nodes.Add(new TextNode(t.Text)); break;
                case OutputPiece o:
                    {
                        var p = new ExprParser(o.Tokens);
                        nodes.Add(new OutputNode(p.Expression()));
                        p.ExpectEnd();
                        break;
                    }
                case TagPiece tag:
                    {
                        var p = new ExprParser(tag.Tokens);
                        var keyword = p.NextName();
                        switch (keyword)
                        {
                            case "for": nodes.Add(For(p)); break;
                            case "if": nodes.Add(If(p)); break;
                            case "set": nodes.Add(Set(p)); break;
                            case "macro": nodes.Add(Macro(p)); break;
                            case "generation" or "endgeneration": p.ExpectEnd(); break; // training-mask markers: no output
                            case "endfor" or "endif" or "else" or "elif" or "endmacro":
                                end = keyword; endTag = p; return nodes;
                            default: throw new FormatException($"chat template: unsupported tag '{{% {keyword} %}}'");
                        }
                        break;
                    }
            }
        }
        end = null; endTag = null;
        return nodes;
    }

    private ForNode For(ExprParser p)
    {
        var targets = new List<string> { p.NextName() };
        while (p.Accept(",")) targets.Add(p.NextName());
        if (p.NextName() != "in") throw new FormatException("chat template: expected 'in' in for loop");
        var iterable = p.Or(noConditional: true);
        Expr? filter = p.AcceptName("if") ? p.Or(noConditional: true) : null;
        p.ExpectEnd();
        var body = Block(out var end, out var endTag);
        var elseBody = new List<Node>();
        if (end == "else") { endTag!.ExpectEnd(); elseBody = Block(out end, out endTag); }
        if (end != "endfor") throw new FormatException("chat template: 'for' without 'endfor'");
        endTag!.ExpectEnd();
        return new ForNode(targets.ToArray(), iterable, filter, body, elseBody);
    }

    private IfNode If(ExprParser p)
    {
        var branches = new List<(Expr, List<Node>)>();
        var condition = p.Expression();
        p.ExpectEnd();
        while (true)
        {
            var body = Block(out var end, out var endTag);
            branches.Add((condition, body));
            if (end == "elif") { condition = endTag!.Expression(); endTag.ExpectEnd(); continue; }
            var elseBody = new List<Node>();
            if (end == "else") { endTag!.ExpectEnd(); elseBody = Block(out end, out endTag); }
            if (end != "endif") throw new FormatException("chat template: 'if' without 'endif'");
            endTag!.ExpectEnd();
            return new IfNode(branches, elseBody);
        }
    }

    // {% macro name(a, b=default) %}…{% endmacro %}
    private MacroNode Macro(ExprParser p)
    {
        var name = p.NextName();
        var parameters = new List<(string, Expr?)>();
        p.Expect("(");
        if (!p.Accept(")"))
        {
            do
            {
                var parameter = p.NextName();
                parameters.Add((parameter, p.Accept("=") ? p.Expression() : null));
            } while (p.Accept(","));
            p.Expect(")");
        }
        p.ExpectEnd();
        var body = Block(out var end, out var endTag);
        if (end != "endmacro") throw new FormatException($"chat template: 'macro {name}' without 'endmacro'");
        endTag!.ExpectEnd();
        return new MacroNode(name, parameters, body);
    }

    private static SetNode Set(ExprParser p)
    {
        var name = p.NextName();
        string? attribute = p.Accept(".") ? p.NextName() : null;
        if (!p.Accept("=")) throw new FormatException("chat template: block 'set' is not supported; use '{% set x = … %}'");
        var value = p.Expression();
        p.ExpectEnd();
        return new SetNode(name, attribute, value);
    }
}

/// <summary>Expression parser over one tag's tokens.</summary>
internal sealed class ExprParser(List<Token> tokens)
{
    private int at;

    private Token Peek => tokens[at];

    public bool Accept(string op)
    {
        if (Peek.Kind != TokenKind.Operator || Peek.Text != op) return false;
        at++;
        return true;
    }

    public bool AcceptName(string name)
    {
        if (Peek.Kind != TokenKind.Name || Peek.Text != name) return false;
        at++;
        return true;
    }

    public void Expect(string op)
    {
        if (!Accept(op)) throw new FormatException($"chat template: expected '{op}', found '{Peek.Text}'");
    }

    public string NextName()
    {
        if (Peek.Kind != TokenKind.Name) throw new FormatException($"chat template: expected a name, found '{Peek.Text}'");
        return tokens[at++].Text;
    }

    public void ExpectEnd()
    {
        if (Peek.Kind != TokenKind.End) throw new FormatException($"chat template: unexpected '{Peek.Text}'");
    }

    public Expr Expression() => Or(noConditional: false);

    public Expr Or(bool noConditional)
    {
        var left = And();
        while (AcceptName("or")) left = new Binary("or", left, And());
        if (!noConditional && AcceptName("if"))
        {
            var condition = Or(noConditional: true);
            Expr? otherwise = AcceptName("else") ? Expression() : null;
            return new Conditional(condition, left, otherwise);
        }
        return left;
    }

    private Expr And()
    {
        var left = Not();
        while (AcceptName("and")) left = new Binary("and", left, Not());
        return left;
    }

    private Expr Not() => AcceptName("not") ? new Unary("not", Not()) : Compare();

    private Expr Compare()
    {
        var left = Concat();
        while (true)
        {
            if (Peek.Kind == TokenKind.Operator && Peek.Text is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                var op = tokens[at++].Text;
                left = new Binary(op, left, Concat());
            }
            else if (AcceptName("in")) left = new Binary("in", left, Concat());
            else if (Peek.Kind == TokenKind.Name && Peek.Text == "not" && tokens[at + 1].Text == "in")
            {
                at += 2;
                left = new Unary("not", new Binary("in", left, Concat()));
            }
            else if (AcceptName("is"))
            {
                bool negated = AcceptName("not");
                var name = NextName();
                var args = new List<Expr>();
                if (Accept("(")) args = Arguments(out _);
                else if (Peek.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float) args.Add(Primary());
                left = new Test(left, name, negated, args);
            }
            else return left;
        }
    }

    private Expr Concat()
    {
        var left = Additive();
        while (Accept("~")) left = new Binary("~", left, Additive());
        return left;
    }

    private Expr Additive()
    {
        var left = Multiplicative();
        while (Peek.Kind == TokenKind.Operator && Peek.Text is "+" or "-")
        {
            var op = tokens[at++].Text;
            left = new Binary(op, left, Multiplicative());
        }
        return left;
    }

    private Expr Multiplicative()
    {
        var left = UnaryMinus();
        while (Peek.Kind == TokenKind.Operator && Peek.Text is "*" or "/" or "//" or "%")
        {
            var op = tokens[at++].Text;
            left = new Binary(op, left, UnaryMinus());
        }
        return left;
    }

    private Expr UnaryMinus() => Accept("-") ? new Unary("-", UnaryMinus()) : Postfix();

    private Expr Postfix()
    {
        var e = Primary();
        while (true)
        {
            if (Accept(".")) e = new Attribute(e, NextName());
            else if (Accept("["))
            {
                Expr? start = Peek.Text == ":" ? null : Expression();
                if (Accept(":"))
                {
                    Expr? stop = Peek.Text is ":" or "]" ? null : Expression();
                    Expr? step = Accept(":") && Peek.Text != "]" ? Expression() : null;
                    Expect("]");
                    e = new Slice(e, start, stop, step);
                }
                else { Expect("]"); e = new Index(e, start!); }
            }
            else if (Accept("(")) { var args = Arguments(out var kwargs); e = new Call(e, args, kwargs); }
            else if (Accept("|"))
            {
                var name = NextName();
                List<(string, Expr)> kwargs = [];
                var args = Accept("(") ? Arguments(out kwargs) : [];
                e = new Filter(e, name, args, kwargs);
            }
            else return e;
        }
    }

    private List<Expr> Arguments(out List<(string, Expr)> kwargs)
    {
        var args = new List<Expr>();
        kwargs = [];
        if (Accept(")")) return args;
        do
        {
            if (Peek.Kind == TokenKind.Name && tokens[at + 1].Text == "=")
            {
                var name = NextName();
                at++;
                kwargs.Add((name, Expression()));
            }
            else args.Add(Expression());
        } while (Accept(","));
        Expect(")");
        return args;
    }

    private Expr Primary()
    {
        var t = tokens[at++];
        switch (t.Kind)
        {
            case TokenKind.String:
                {
                    var s = t.Text;
                    while (Peek.Kind == TokenKind.String) s += tokens[at++].Text; // adjacent literals concatenate
                    return new Literal(s);
                }
            case TokenKind.Integer: return new Literal(long.Parse(t.Text, System.Globalization.CultureInfo.InvariantCulture));
            case TokenKind.Float: return new Literal(double.Parse(t.Text, System.Globalization.CultureInfo.InvariantCulture));
            case TokenKind.Name:
                return t.Text switch
                {
                    "true" or "True" => new Literal(true),
                    "false" or "False" => new Literal(false),
                    "none" or "None" => new Literal(null),
                    _ => new Name(t.Text),
                };
            case TokenKind.Operator when t.Text == "(":
                {
                    var e = Expression();
                    Expect(")");
                    return e;
                }
            case TokenKind.Operator when t.Text == "[":
                {
                    var items = new List<Expr>();
                    if (!Accept("]")) { do items.Add(Expression()); while (Accept(",") && Peek.Text != "]"); Expect("]"); }
                    return new ListExpr(items);
                }
            case TokenKind.Operator when t.Text == "{":
                {
                    var items = new List<(Expr, Expr)>();
                    if (!Accept("}"))
                    {
                        do { var k = Expression(); Expect(":"); items.Add((k, Expression())); } while (Accept(",") && Peek.Text != "}");
                        Expect("}");
                    }
                    return new DictExpr(items);
                }
            default: throw new FormatException($"chat template: unexpected '{t.Text}'");
        }
    }
}
