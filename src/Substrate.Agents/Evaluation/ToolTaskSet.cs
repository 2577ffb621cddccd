using Substrate.Agents.Tools;

namespace Substrate.Agents.Evaluation;

/// <summary>What <see cref="ToolTaskSet.Generate"/> makes: how many training and held-out tasks, from which seed.</summary>
public sealed record ToolTaskOptions
{
    public int Train { get; init; } = 3000;
    public int HeldOut { get; init; } = 200;
    public int Seed { get; init; } = 1;
}

/// <summary>One generated task and the tool calls that solve it: <see cref="Plan"/> gives the next call from the
/// results so far (null: done, the last result is the answer).</summary>
public sealed record ToolTask(AgentTask Task, Func<IReadOnlyList<string>, (string Tool, string Argument, string Value)?> Plan);

/// <summary>
/// Multi-step tool tasks, deterministic by seed, in three kinds: <c>arithmetic</c> on 3–4 digit numbers ("What is 4817 * 36?"
/// → calculator), <c>define</c> (a WordNet word → lookup → its gloss, quoted) and <c>verses</c> (a Bible chapter → lookup →
/// its verse count → calculator: "What is 47 times the number of verses in Psalms 23?"). Held-out tasks use other numbers,
/// words and chapters than training tasks: every number and key belongs to one side by a hash (a fifth are held out).
/// </summary>
public static class ToolTaskSet
{
    public const string Calculator = "calculator", Lookup = "lookup";

    /// <summary>Most tasks of either side: past it the task list alone outgrows memory (and <c>count * 20</c> attempts overflow).</summary>
    public const int MaxTasks = 1_000_000;

    public static (List<ToolTask> Train, List<ToolTask> HeldOut) Generate(LookupTable table, ToolTaskOptions options)
    {
        if (options.Train is < 0 or > MaxTasks || options.HeldOut is < 0 or > MaxTasks || options.Train + options.HeldOut == 0)
            throw new ArgumentException($"the numbers of training and held-out tasks must be from 0 to {MaxTasks:N0}, and not both 0");
        var keys = table.Keys.Order(StringComparer.Ordinal).ToList();
        var random = new Random(options.Seed);
        return (Make(options.Train, heldOut: false), Make(options.HeldOut, heldOut: true));

        List<ToolTask> Make(int count, bool heldOut)
        {
            var words = keys.Where(k => !ToolTaskCorpus.IsChapter(k) && IsHeldOut(k) == heldOut).ToList();
            var chapters = keys.Where(k => ToolTaskCorpus.IsChapter(k) && IsHeldOut(k) == heldOut).ToList();
            if (words.Count == 0 || chapters.Count == 0) throw new InvalidDataException("the lookup table has too few words or chapters to split");
            var tasks = new List<ToolTask>(count);
            var goals = new HashSet<string>(StringComparer.Ordinal);
            for (int attempt = 0; tasks.Count < count && attempt < count * 20; attempt++)
            {
                var task = (tasks.Count % 3) switch
                {
                    0 => Arithmetic(random, heldOut),
                    1 => Define(random, words[random.Next(words.Count)], table),
                    _ => Verses(random, chapters[random.Next(chapters.Count)], Number(random, 11, 999, heldOut), table),
                };
                if (goals.Add(task.Task.Goal)) tasks.Add(task);
            }
            if (tasks.Count < count) throw new InvalidDataException($"only {tasks.Count} distinct tasks could be made of {count} asked for");
            return tasks;
        }
    }

    /// <summary>Which side a number or key belongs to: a fifth (by a fixed hash, not the seed) are held out.</summary>
    public static bool IsHeldOut(string key) => Fnv(key.ToLowerInvariant()) % 5 == 0;

    public static bool IsHeldOut(int number) => IsHeldOut(number.ToString(System.Globalization.CultureInfo.InvariantCulture));

    static int Number(Random random, int min, int max, bool heldOut)
    {
        while (true)
            if (random.Next(min, max + 1) is var n && IsHeldOut(n) == heldOut) return n;
    }

    static ToolTask Arithmetic(Random random, bool heldOut)
    {
        int a = Number(random, 100, 9999, heldOut), b = Number(random, 10, 9999, heldOut);
        var op = "+-*"[random.Next(3)];
        if (op == '-' && b > a) (a, b) = (b, a);
        var expression = $"{a} {op} {b}";
        var goal = random.Next(2) == 0 ? $"What is {expression}?" : $"Compute {expression}.";
        return new ToolTask(new AgentTask(goal, [Calculator], Evaluate(expression), "arithmetic"),
            results => results.Count == 0 ? (Calculator, "expression", expression) : null);
    }

    static ToolTask Define(Random random, string word, LookupTable table)
    {
        var goal = random.Next(2) == 0 ? $"What is the definition of {word}?" : $"Look up the word {word}: what does it mean?";
        return new ToolTask(new AgentTask(goal, [Lookup], table.Lookup(word), "define"),
            results => results.Count == 0 ? (Lookup, "key", word) : null);
    }

    static ToolTask Verses(Random random, string chapter, int times, LookupTable table)
    {
        var goal = random.Next(2) == 0 ? $"What is {times} times the number of verses in {chapter}?"
            : $"How many verses are in {chapter}, multiplied by {times}?";
        var answer = Evaluate($"{ToolTaskCorpus.Verses(table.Lookup(chapter))} * {times}");
        return new ToolTask(new AgentTask(goal, [Lookup, Calculator], answer, "verses"), results => results.Count switch
        {
            0 => (Lookup, "key", chapter),
            1 => (Calculator, "expression", $"{ToolTaskCorpus.Verses(results[0])} * {times}"),
            _ => null,
        });
    }

    static string Evaluate(string expression) => Tools.Calculator.Format(Tools.Calculator.Evaluate(expression));

    static uint Fnv(string text)
    {
        uint hash = 2166136261;
        foreach (var c in text) hash = (hash ^ c) * 16777619;
        return hash;
    }
}
