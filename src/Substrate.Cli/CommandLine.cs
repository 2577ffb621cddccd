using System.CommandLine;
using System.Text.Json;
using Substrate.Training.Distributed;

namespace Substrate.Cli;

/// <summary>
/// The verb table of the <c>substrate</c> command. Each verb builds its <see cref="Command"/> in a
/// file of its own under Verbs/; this class only assembles them and turns failures into one line.
/// </summary>
public static class CommandLine
{
    public static RootCommand BuildRoot() => new("Substrate: pretrain, adapt, export and serve small foundation models.")
    {
        Verbs.TokenizerVerbs.Build(),
        Verbs.DataVerbs.Build(),
        Verbs.PretrainVerb.Build(),
        Verbs.GenerateVerb.Build(),
        Verbs.ChatVerb.Build(),
        Verbs.EvalVerbs.Build(),
        Verbs.PlanVerb.Build(),
        Verbs.InteropVerbs.BuildExport(),
        Verbs.InteropVerbs.BuildImport(),
        Verbs.InteropVerbs.BuildQuantize(),
        Verbs.InteropVerbs.BuildInfo(),
        Verbs.QuickstartVerb.Build(),
        Verbs.AdapterVerbs.Build(),
        Verbs.ServeVerb.Build(),
        Verbs.FinetuneVerb.Build(),
        Verbs.AlignVerb.Build(),
        Verbs.AdaptVerb.Build(),
        Verbs.RagVerbs.Build(),
        Verbs.AgentVerb.Build(),
        Verbs.McpVerb.Build(),
    };

    public static async Task<int> RunAsync(string[] args)
    {
        var root = BuildRoot();
        var parsed = root.Parse(args);
        // Bad input gets one clear line, not the whole help page.
        if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            Console.Error.WriteLine($"error: {parsed.Errors[0].Message} (see '{CommandPath(parsed)} --help')");
            return 2;
        }
        int exitCode = await InvokeAsync(parsed);
        World.End(exitCode); // under mpirun: finalize, or abort every rank after an error (none is left waiting in a collective)
        return exitCode;
    }

    static async Task<int> InvokeAsync(ParseResult parsed)
    {
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            // An internal failure still gets one line — its first: libtorch appends C++ frames and paths to its messages;
            // the exception type and stack trace only when asked for.
            Console.Error.WriteLine($"error: internal error: {FirstLine(e.Message)} (SUBSTRATE_DEBUG=1 for details)");
            if (Environment.GetEnvironmentVariable("SUBSTRATE_DEBUG") == "1") Console.Error.WriteLine(e);
            return 70;
        }
    }

    static bool IsUserError(Exception e) => e is ArgumentException or IOException or InvalidDataException
        or JsonException or UnauthorizedAccessException or FormatException or NotSupportedException
        or InvalidOperationException or InsufficientMemoryException;

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, result.Command is RootCommand ? "substrate" : result.Command.Name);
        return string.Join(' ', names);
    }
}
