using System.ComponentModel;
using System.Globalization;
using Microsoft.Extensions.AI;

namespace Substrate.Agents.Tools;

/// <summary>The built-in tools as <see cref="AIFunction"/>s (<see cref="AIFunctionFactory"/>): names, descriptions and
/// parameter schemas are what the model sees.</summary>
public static class BuiltInTools
{
    public static AIFunction Calculator() => AIFunctionFactory.Create(
        ([Description("An arithmetic expression: numbers, + - * /, parentheses, unary minus, e.g. (1.5 + 2) * -3")] string expression) =>
            Tools.Calculator.Format(Tools.Calculator.Evaluate(expression)),
        "calculator", "Evaluates an arithmetic expression exactly (decimal numbers) and returns the result.");

    /// <summary>The current date and time from <paramref name="clock"/> (a fake one in tests).</summary>
    public static AIFunction Clock(TimeProvider? clock = null)
    {
        var time = clock ?? TimeProvider.System;
        return AIFunctionFactory.Create(() =>
        {
            var now = time.GetUtcNow();
            return $"{now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} ({now.DayOfWeek}, UTC)";
        }, "current_time", "Returns the current date and time (UTC, ISO 8601, with the day of the week).");
    }

    /// <summary>read_file and list_files over one folder (<see cref="FolderTools"/>).</summary>
    public static IReadOnlyList<AIFunction> Folder(FolderTools folder) =>
    [
        AIFunctionFactory.Create(
            ([Description("A file path relative to the folder")] string path) => folder.ReadFile(path),
            "read_file", "Reads a text file from the agent's folder."),
        AIFunctionFactory.Create(
            ([Description("A folder path relative to the agent's folder; '.' for the folder itself")] string path) => folder.ListFiles(path),
            "list_files", "Lists the files and folders in a folder of the agent's folder."),
    ];

    /// <summary>lookup over one key → value table (<see cref="LookupTable"/>).</summary>
    public static AIFunction Lookup(LookupTable table) => AIFunctionFactory.Create(
        ([Description("A word or a chapter, e.g. ship or Genesis 1")] string key) => table.Lookup(key),
        "lookup", "Looks up a word (its definition) or a Bible chapter (its number of verses).");

    /// <summary>search over one chunk store (<see cref="StoreSearch"/>).</summary>
    public static AIFunction Search(StoreSearch search) => AIFunctionFactory.Create(SearchMethod(search), "search", SearchDescription);

    public const string SearchDescription =
        "Searches the indexed documents; returns the best-matching passages, one a line: [rank] source (position): text.";

    /// <summary>The search tool's method, shared with <c>substrate mcp</c>: its parameters (names, descriptions,
    /// defaults) are the schema the model and MCP clients see.</summary>
    public static Delegate SearchMethod(StoreSearch search) =>
        ([Description("What to look for, in words")] string query,
         [Description("How many passages to return, 1 to 10")] int top = 5,
         CancellationToken cancellationToken = default) => search.SearchAsync(query, top, cancellationToken);
}
