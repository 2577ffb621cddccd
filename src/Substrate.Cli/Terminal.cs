using Spectre.Console;

namespace Substrate.Cli;

/// <summary>
/// Where the CLI writes. Results go to stdout (so they can be piped); progress, statistics and
/// tables go to stderr through Spectre.Console.
/// </summary>
public static class Terminal
{
    public static readonly IAnsiConsole Err = CreateErr();

    static IAnsiConsole CreateErr()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        // Logs and pipes have no width: don't wrap lines at Spectre's fallback of 80 columns.
        if (Console.IsErrorRedirected) console.Profile.Width = 400;
        return console;
    }

    public static void Info(string markup) => Err.MarkupLine(markup);

    /// <summary>Runs <paramref name="work"/> under a single progress bar on stderr; plain lines when stderr is not a terminal.</summary>
    public static T WithProgress<T>(string title, Func<Action<string, double?>, T> work)
    {
        if (Console.IsErrorRedirected)
        {
            var lastReport = DateTime.MinValue;
            return work((status, fraction) =>
            {
                if ((DateTime.UtcNow - lastReport).TotalSeconds < 5 && (fraction ?? 0) < 1) return;
                lastReport = DateTime.UtcNow;
                Console.Error.WriteLine(fraction is double f ? $"{title}: {status} ({f:P0})" : $"{title}: {status}");
            });
        }
        T result = default!;
        Err.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), maxValue: 1.0);
                result = work((status, fraction) =>
                {
                    task.Description = Markup.Escape($"{title}: {status}");
                    if (fraction is double f) task.Value = Math.Clamp(f, 0, 1);
                });
                task.Value = 1.0;
            });
        return result;
    }
}
