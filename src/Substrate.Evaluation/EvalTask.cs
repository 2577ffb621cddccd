using System.Text.Json;

namespace Substrate.Evaluation;

/// <summary>One task item: a multiple-choice question (choices + gold index) or a generation item (answer, stop strings).</summary>
public sealed record TaskItem(string Query, IReadOnlyList<string>? Choices, int Gold, string? Answer, IReadOnlyList<string> Until);

/// <summary>
/// A JSONL task file in lm-evaluation-harness terms: each line is <c>{"query","choices":[…],"gold":i}</c>
/// (multiple choice, scored by the log-likelihood of each choice after the query) or <c>{"query","answer","until":[…]}</c>
/// (generation, scored by exact match). A task is all one kind.
/// </summary>
public sealed record EvalTask(string Name, IReadOnlyList<TaskItem> Items)
{
    public bool IsMultipleChoice => Items[0].Choices is not null;

    /// <summary>A task by file path, or by name from <paramref name="searchDirectories"/> (default: data/tasks in the
    /// working directory or a parent, then beside the program or a parent).</summary>
    public static EvalTask Load(string fileOrName, IEnumerable<string>? searchDirectories = null)
    {
        if (File.Exists(fileOrName)) return Read(fileOrName);
        var dirs = searchDirectories?.ToList() ?? DefaultDirectories().ToList();
        foreach (var dir in dirs)
        {
            var path = Path.Combine(dir, fileOrName + ".jsonl");
            if (File.Exists(path)) return Read(path);
        }
        throw new FileNotFoundException($"task '{fileOrName}' is neither a file nor a task in {string.Join(", ", dirs.DefaultIfEmpty("data/tasks"))}");
    }

    /// <summary>data/tasks above the working directory, then above the program (a build inside the repository finds the bundled tasks).</summary>
    private static IEnumerable<string> DefaultDirectories()
    {
        var seen = new HashSet<string>();
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "data", "tasks")) && seen.Add(dir.FullName))
                    yield return Path.Combine(dir.FullName, "data", "tasks");
    }

    public static EvalTask Read(string path)
    {
        var items = new List<TaskItem>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"{path}:{lineNumber}";
            try
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                var query = r.GetProperty("query").GetString() ?? throw new InvalidDataException($"{where}: \"query\" is null");
                if (r.TryGetProperty("choices", out var choices))
                {
                    var list = choices.EnumerateArray().Select(c => c.GetString() ?? "").ToList();
                    int gold = r.GetProperty("gold").GetInt32();
                    if (list.Count < 2 || gold < 0 || gold >= list.Count)
                        throw new InvalidDataException($"{where}: need ≥ 2 choices and 0 ≤ gold < {list.Count}");
                    items.Add(new TaskItem(query, list, gold, null, []));
                }
                else
                {
                    var answer = r.GetProperty("answer").GetString() ?? "";
                    var until = r.TryGetProperty("until", out var u) ? u.EnumerateArray().Select(x => x.GetString()!).ToList() : ["\n"];
                    items.Add(new TaskItem(query, null, 0, answer, until));
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{where}: expected {{\"query\",\"choices\",\"gold\"}} or {{\"query\",\"answer\"}} ({e.Message})");
            }
            if ((items[^1].Choices is null) != (items[0].Choices is null))
                throw new InvalidDataException($"{where}: a task mixes multiple-choice and generation items");
        }
        if (items.Count == 0) throw new InvalidDataException($"{path}: no items");
        return new EvalTask(Path.GetFileNameWithoutExtension(path), items);
    }
}
