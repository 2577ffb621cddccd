using System.Globalization;

namespace Substrate.Agents.Tools;

/// <summary>
/// Exact decimal arithmetic over a small hand-written parser: + - * /, parentheses, unary minus, decimals. Nothing is
/// evaluated but numbers: the grammar is
/// <c>expr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ; unary := ('-'|'+') unary | primary ;
/// primary := number | '(' expr ')'</c>. Errors (a stray character, division by zero, overflow) throw
/// <see cref="ArgumentException"/> naming the position, so the agent's tool guard feeds them back to the model.
/// </summary>
public static class Calculator
{
    const int MaxLength = 1000;
    const int MaxDepth = 64;

    public static decimal Evaluate(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        if (expression.Length > MaxLength) throw new ArgumentException($"expression longer than {MaxLength} characters");
        var parser = new Parser(expression);
        var value = parser.Expression(0);
        parser.SkipSpace();
        if (!parser.AtEnd) throw parser.Error("unexpected character");
        return value;
    }

    /// <summary>The value as plain text: invariant culture, no trailing zeros ("0.5", not "0.50").</summary>
    public static string Format(decimal value)
    {
        var text = value.ToString(CultureInfo.InvariantCulture);
        return text.Contains('.') ? text.TrimEnd('0').TrimEnd('.') : text;
    }

    sealed class Parser(string text)
    {
        int at;

        public bool AtEnd => at >= text.Length;

        public void SkipSpace()
        {
            while (!AtEnd && char.IsWhiteSpace(text[at])) at++;
        }

        public ArgumentException Error(string what) =>
            new($"{what} at position {at + 1} of '{text}'");

        bool Take(char c)
        {
            SkipSpace();
            if (AtEnd || text[at] != c) return false;
            at++;
            return true;
        }

        public decimal Expression(int depth)
        {
            var value = Term(depth);
            while (true)
            {
                if (Take('+')) value = Checked(() => value + Term(depth));
                else if (Take('-')) value = Checked(() => value - Term(depth));
                else return value;
            }
        }

        decimal Term(int depth)
        {
            var value = Unary(depth);
            while (true)
            {
                if (Take('*')) value = Checked(() => value * Unary(depth));
                else if (Take('/'))
                {
                    var divisor = Unary(depth);
                    if (divisor == 0) throw new ArgumentException("division by zero");
                    value = Checked(() => value / divisor);
                }
                else return value;
            }
        }

        decimal Unary(int depth)
        {
            if (depth > MaxDepth) throw Error($"nesting deeper than {MaxDepth}");
            if (Take('-')) return -Unary(depth + 1);
            if (Take('+')) return Unary(depth + 1);
            if (Take('('))
            {
                var value = Expression(depth + 1);
                if (!Take(')')) throw Error("expected ')'");
                return value;
            }
            return Number();
        }

        decimal Number()
        {
            SkipSpace();
            var start = at;
            while (!AtEnd && (char.IsAsciiDigit(text[at]) || text[at] == '.')) at++;
            if (start == at) throw Error(AtEnd ? "expected a number" : $"unexpected '{text[at]}'");
            var digits = text[start..at];
            if (!decimal.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                at = start;
                throw Error($"'{digits}' is not a number");
            }
            return value;
        }

        static decimal Checked(Func<decimal> operation)
        {
            try { return operation(); }
            catch (OverflowException) { throw new ArgumentException("result out of the decimal range (±7.9e28)"); }
        }
    }
}
