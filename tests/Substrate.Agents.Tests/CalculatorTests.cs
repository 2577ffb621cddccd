using Substrate.Agents.Tools;

namespace Substrate.Agents.Tests;

public class CalculatorTests
{
    [Theory]
    [InlineData("1 + 2 * 3", "7")]
    [InlineData("(1 + 2) * 3", "9")]
    [InlineData("0.1 + 0.2", "0.3")] // exact: decimal, not binary floating point
    [InlineData("-3 - -2", "-1")]
    [InlineData("-(2.5 * 4) / 8", "-1.25")]
    [InlineData("10 / 4", "2.5")]
    [InlineData("2 - 3 - 4", "-5")] // left-associative
    [InlineData("24 / 2 / 3", "4")]
    [InlineData("  7  ", "7")]
    [InlineData("+5", "5")]
    [InlineData("1.50 * 2", "3")]
    [InlineData("123456789012345678 * 10", "1234567890123456780")]
    public void Evaluates_exactly(string expression, string expected) =>
        Assert.Equal(expected, Calculator.Format(Calculator.Evaluate(expression)));

    [Theory]
    [InlineData("1 / 0", "division by zero")]
    [InlineData("1 / (2 - 2)", "division by zero")]
    [InlineData("1 +", "expected a number")]
    [InlineData("(1 + 2", "expected ')'")]
    [InlineData("2 ** 3", "unexpected '*'")]
    [InlineData("1.2.3", "is not a number")]
    [InlineData("Math.Pow(2, 3)", "unexpected 'M'")]
    [InlineData("1 2", "unexpected character")]
    [InlineData("79228162514264337593543950335 + 1", "out of the decimal range")]
    [InlineData("", "expected a number")]
    public void Refuses_what_is_not_arithmetic(string expression, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => Calculator.Evaluate(expression)).Message);

    [Fact]
    public void Deep_nesting_is_refused_not_a_stack_overflow() =>
        Assert.Throws<ArgumentException>(() => Calculator.Evaluate(new string('(', 500) + "1" + new string(')', 500)));
}
