using System.Text.Json;

namespace Substrate.Bench;

/// <summary>Benchmarks report one JSON object per line on stdout.</summary>
internal static class JsonLine
{
    public static void Write(object figures) => Console.WriteLine(JsonSerializer.Serialize(figures));

    public static double Round(double value, int digits = 1) => Math.Round(value, digits);
}
