using System.CommandLine;
using Microsoft.Extensions.AI;
using Substrate.Agents;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;

namespace Substrate.Cli.Verbs;

/// <summary>
/// <c>substrate agent "goal"</c>: the agent loop (<see cref="AgentLoop"/>) over a model folder in process or any
/// OpenAI-compatible endpoint, with the tools <c>--tools</c> names. Steps (tool calls and results) go to stderr, one
/// compact line each; the final answer to stdout. A run stopped early (step limit, a tool server that died) exits 1.
/// </summary>
public static class AgentVerb
{
    const int StepWidth = 160;

    public static Command Build()
    {
        var goal = new Argument<string>("goal") { Description = "What the agent should do." };
        var models = new AgentModelFlags();
        var tools = new Option<string[]>("--tools")
        {
            Description = "Tools, comma-separated or repeated: calc, time, files:<dir>, search:<store.db>, mcp:<command line>, mcp:http://… " +
                "(an mcp: spec takes the rest).",
        };
        var maxSteps = new Option<int>("--max-steps") { Description = "Model calls at most.", DefaultValueFactory = _ => 10 };
        var toolTimeout = new Option<string>("--tool-timeout") { Description = "Time one tool call may take.", DefaultValueFactory = _ => "30s" };
        var maxResult = new Option<int>("--max-tool-result") { Description = "Characters of a tool result the model sees.", DefaultValueFactory = _ => 16_000 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens per model reply at most.", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0 };
        var system = new Option<string?>("--system") { Description = "Instructions for the agent (default: a short helpful-assistant prompt)." };
        var sessionFile = new Option<string?>("--session")
        {
            Description = "A JSON file holding the conversation: read before the run (if it exists), written after.",
        };
        var trace = new Option<string>("--trace") { Description = "OpenTelemetry traces: none, console (stderr) or otlp.", DefaultValueFactory = _ => "none" };
        var command = new Command("agent", "Run an agent: a model that calls tools until it can answer the goal.")
            { goal, tools, maxSteps, toolTimeout, maxResult, maxTokens, temperature, system, sessionFile, trace };
        models.AddTo(command);
        command.Subcommands.Add(AgentEvalVerb.Build());
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            var options = new AgentOptions
            {
                MaxSteps = parsed.GetValue(maxSteps), ToolTimeout = Durations.Parse(parsed.GetValue(toolTimeout)!),
                MaxToolResultChars = parsed.GetValue(maxResult), MaxOutputTokens = parsed.GetValue(maxTokens),
                Temperature = parsed.GetValue(temperature), Instructions = parsed.GetValue(system),
            };
            if (options.MaxSteps < 1 || options.MaxToolResultChars < 1 || options.MaxOutputTokens < 1)
                throw new ArgumentException("--max-steps, --max-tool-result and --max-tokens must be ≥ 1");
            // Console traces go to stderr: stdout is the answer's.
            var answerOut = Console.Out;
            if (parsed.GetValue(trace) == "console") Console.SetOut(Console.Error);
            using var tracing = AgentTelemetry.Start(parsed.GetValue(trace));
            var (chat, engine, modelId) = models.Open(parsed);
            options = options with { ModelId = modelId };
            using (engine)
            {
                await using var toolbox = await Toolbox.OpenAsync(parsed.GetValue(tools) ?? [], cancellationToken: cancellation,
                    storeEmbedder: store => RagEmbedder.ForStore(store, null));
                Console.Error.WriteLine($"agent: {toolbox.Tools.Count} tools ({string.Join(", ", toolbox.Tools.Select(t => t.Name))}), " +
                    $"at most {options.MaxSteps} steps");
                var loop = new AgentLoop(chat, toolbox.Tools, options, toolbox.SourceGoneAsync);
                var path = parsed.GetValue(sessionFile);
                var session = path is null ? null : await AgentSessionFile.LoadAsync(loop.Agent, path, cancellation);
                var result = await loop.RunAsync(parsed.GetValue(goal)!, ShowStep, session, cancellation);
                if (path is not null) await AgentSessionFile.SaveAsync(loop.Agent, session!, path, cancellation);
                if (result.Answer.Length > 0) answerOut.WriteLine(result.Answer);
                else if (result.StoppedBy is null) Console.Error.WriteLine("agent: the model's answer is empty (only white space)");
                if (result.StoppedBy is null) return 0;
                Console.Error.WriteLine($"error: stopped: {result.StoppedBy}");
                return 1;
            }
        });
        return command;
    }

    static void ShowStep(AgentStep step) => Console.Error.WriteLine(step switch
    {
        AgentStep.Thought t => "· " + OneLine(t.Text),
        AgentStep.ToolCall c => OneLine($"→ {c.Name}({c.Arguments})"),
        AgentStep.ToolResult r => "← " + OneLine(r.Text),
        _ => step.ToString(),
    });

    static string OneLine(string text)
    {
        var line = text.ReplaceLineEndings(" ⏎ ");
        return line.Length <= StepWidth ? line : line[..StepWidth] + $"… ({text.Length:N0} chars)";
    }
}
