using System.CommandLine;
using System.Text.Json;
using Substrate.Agents;
using Substrate.Agents.Evaluation;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate agent eval --tasks t.jsonl</c>: the agent benchmark (<see cref="AgentEvaluation"/>) — every task with its
/// tools and again without — over a model folder or an endpoint. stdout: a JSON line per task run (with
/// <c>--per-task</c>) and a summary JSON line; stderr: the same summary for a reader.
/// </summary>
public static class AgentEvalVerb
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Build()
    {
        var tasks = new Option<string>("--tasks") { Description = "Tasks, JSON Lines of {goal, tools: [names], answer, kind}.", Required = true };
        var tools = new Option<string[]>("--tools")
        {
            Description = "The tools the tasks may name, as for agent: calc, lookup:<table.tsv>, files:<dir>, search:<store.db>, mcp:… ",
        };
        var maxSteps = new Option<int>("--max-steps") { Description = "Model calls per task at most.", DefaultValueFactory = _ => 6 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens per model reply at most.", DefaultValueFactory = _ => 128 };
        var system = new Option<string?>("--system") { Description = "Instructions for the agent (default: the agent's)." };
        var limit = new Option<int>("--limit") { Description = "Only the first N tasks (0: all)." };
        var perTask = new Option<bool>("--per-task") { Description = "Also print a JSON line per task run." };
        var models = new AgentModelFlags();
        var command = new Command("eval", "Score an agent on tasks: success with its tools and without, steps and tokens per task.")
            { tasks, tools, maxSteps, maxTokens, system, limit, perTask };
        models.AddTo(command);
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            var list = AgentTaskFile.Read(parsed.GetValue(tasks)!);
            if (parsed.GetValue(limit) is > 0 and var n) list = list.Take(n).ToList();
            if (parsed.GetValue(maxSteps) < 1 || parsed.GetValue(maxTokens) < 1) throw new ArgumentException("--max-steps and --max-tokens must be ≥ 1");
            var (chat, engine, modelId) = models.Open(parsed);
            using (engine)
            {
                await using var toolbox = await Toolbox.OpenAsync(parsed.GetValue(tools) ?? [], cancellationToken: cancellation);
                var options = new AgentOptions
                {
                    MaxSteps = parsed.GetValue(maxSteps), MaxOutputTokens = parsed.GetValue(maxTokens), Instructions = parsed.GetValue(system),
                    ModelId = modelId, TraceContent = false,
                };
                var evaluation = new AgentEvaluation(chat, toolbox.Tools, options);
                var done = 0;
                var report = await evaluation.RunAsync(list, outcome =>
                {
                    if (parsed.GetValue(perTask)) Console.WriteLine(JsonSerializer.Serialize(outcome, Json));
                    if (!outcome.WithTools && ++done % 10 == 0) Console.Error.WriteLine($"agent eval: {done}/{list.Count} tasks");
                }, cancellation);
                var summary = new { tasks = list.Count, with_tools = report.WithTools, without_tools = report.WithoutTools };
                Console.WriteLine(JsonSerializer.Serialize(summary, Json));
                Console.Error.WriteLine(Summary("with tools", report.WithTools));
                Console.Error.WriteLine(Summary("without tools", report.WithoutTools));
                return 0;
            }
        });
        return command;
    }

    static string Summary(string name, AgentEvalFigures f) =>
        $"agent eval: {name,-13} success {f.Success:P1} ({string.Join(", ", f.SuccessByKind.Select(k => $"{k.Key} {k.Value:P0}"))}), "
        + $"{f.StepsPerTask:F2} steps/task, {f.ToolCallsPerTask:F2} tool calls/task, {f.TokensPerTask:F0} tokens/task, errors: "
        + (f.Errors.Count == 0 ? "none" : string.Join(", ", f.Errors.Select(e => $"{e.Key} {e.Value}")));
}
