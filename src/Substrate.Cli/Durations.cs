using System.Globalization;
using System.Text.RegularExpressions;

namespace Substrate.Cli;

/// <summary>Reads durations written as people write them: 90s, 10m, 1h30m, 2.5h, or 00:10:00.</summary>
public static partial class Durations
{
    [GeneratedRegex(@"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m)?(?:(?<s>\d+(?:\.\d+)?)s)?$")]
    private static partial Regex Units();

    public static TimeSpan Parse(string text)
    {
        var match = Units().Match(text.Trim());
        if (match.Success && text.Trim().Length > 0)
        {
            double Part(string name) => match.Groups[name].Success ? double.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture) : 0;
            var span = TimeSpan.FromHours(Part("h")) + TimeSpan.FromMinutes(Part("m")) + TimeSpan.FromSeconds(Part("s"));
            if (span > TimeSpan.Zero) return span;
        }
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) && parsed > TimeSpan.Zero) return parsed;
        throw new ArgumentException($"'{text}' is not a duration; write e.g. 90s, 10m, 1h30m");
    }
}
