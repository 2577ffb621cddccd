using System.CommandLine;
using Microsoft.Extensions.AI;
using Substrate.Agents;
using Substrate.Agents.Context;
using Substrate.Agents.Memory;
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

    sealed class Flags
    {
        public readonly Argument<string> Goal = new("goal") { Description = "What the agent should do." };
        public readonly AgentModelFlags Models = new();
        public readonly Option<string[]> Tools = new("--tools")
        {
            Description = "Tools, comma-separated or repeated: calc, time, files:<dir>, lookup:<table.tsv>, search:<store.db>, memory, mcp:<command line>, "
                + "mcp:http://… " +
                "(an mcp: spec takes the rest).",
        };
        public readonly Option<int> MaxSteps = new("--max-steps") { Description = "Model calls at most.", DefaultValueFactory = _ => 10 };
        public readonly Option<string> ToolTimeout = new("--tool-timeout") { Description = "Time one tool call may take.", DefaultValueFactory = _ => "30s" };
        public readonly Option<int> MaxResult = new("--max-tool-result")
        {
            Description = "Characters of a tool result the model sees.", DefaultValueFactory = _ => 16_000,
        };
        public readonly Option<int> MaxTokens = new("--max-tokens") { Description = "Tokens per model reply at most.", DefaultValueFactory = _ => 256 };
        public readonly Option<float> Temperature = new("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0 };
        public readonly Option<string?> System = new("--system") { Description = "Instructions for the agent (default: a short helpful-assistant prompt)." };
        public readonly Option<string?> Session = new("--session")
        {
            Description = "A conversation to continue: a name (kept in the memory file), or a file ending in .json (read before the run, written after).",
        };
        public readonly Option<string?> MemoryDb = new("--memory-db")
        {
            Description = "The SQLite file holding named sessions and remembered facts (default ~/.local/share/substrate/agents.db).",
        };
        public readonly Option<int?> Context = new("--context") { Description = "The model's context in tokens (default: the model's; an endpoint: 8192)." };
        public readonly Option<string> ContextPolicy = new("--context-policy")
        {
            Description = "Over the context budget: drop the oldest turns (with a note) or summarize them with the model.", DefaultValueFactory = _ => "drop",
        };
        public readonly Option<string> Trace = new("--trace")
        {
            Description = "OpenTelemetry traces: none, console (stderr) or otlp.", DefaultValueFactory = _ => "none",
        };
    }

    public static Command Build()
    {
        var f = new Flags();
        var command = new Command("agent", "Run an agent: a model that calls tools until it can answer the goal.")
        {
            f.Goal, f.Tools, f.MaxSteps, f.ToolTimeout, f.MaxResult, f.MaxTokens,
            f.Temperature, f.System, f.Session, f.MemoryDb, f.Context, f.ContextPolicy, f.Trace,
        };
        f.Models.AddTo(command);
        command.Subcommands.Add(AgentEvalVerb.Build());
        command.SetAction((parsed, cancellation) => RunAsync(f, parsed, cancellation));
        return command;
    }

    static async Task<int> RunAsync(Flags f, ParseResult parsed, CancellationToken cancellation)
    {
        var options = new AgentOptions
        {
            MaxSteps = parsed.GetValue(f.MaxSteps), ToolTimeout = Durations.Parse(parsed.GetValue(f.ToolTimeout)!),
            MaxToolResultChars = parsed.GetValue(f.MaxResult), MaxOutputTokens = parsed.GetValue(f.MaxTokens),
            Temperature = parsed.GetValue(f.Temperature), Instructions = parsed.GetValue(f.System),
        };
        if (options.MaxSteps < 1 || options.MaxToolResultChars < 1 || options.MaxOutputTokens < 1)
            throw new ArgumentException("--max-steps, --max-tool-result and --max-tokens must be ≥ 1");
        var policy = parsed.GetValue(f.ContextPolicy) switch
        {
            "drop" => Agents.Context.ContextPolicy.Drop,
            "summarize" => Agents.Context.ContextPolicy.Summarize,
            var other => throw new ArgumentException($"--context-policy must be drop or summarize, not '{other}'"),
        };
        var sessionSpec = parsed.GetValue(f.Session);
        var sessionFile = sessionSpec?.EndsWith(".json", StringComparison.OrdinalIgnoreCase) == true ? sessionSpec : null;
        if (sessionSpec is not null && sessionFile is null) StoredSession.CheckName(sessionSpec);
        // Console traces go to stderr: stdout is the answer's.
        var answerOut = Console.Out;
        if (parsed.GetValue(f.Trace) == "console") Console.SetOut(Console.Error);
        using var tracing = AgentTelemetry.Start(parsed.GetValue(f.Trace));
        var (chat, engine, modelId, countTokens, context) = f.Models.OpenCounted(parsed);
        options = options with { ModelId = modelId };
        context = parsed.GetValue(f.Context) ?? context;
        using (engine)
        {
            AgentMemoryStore? store = null;
            AgentMemoryStore Store() => store ??= AgentMemoryStore.Open(parsed.GetValue(f.MemoryDb) ?? AgentMemoryStore.DefaultPath);
            RagEmbedder? memoryEmbedder = null; // MiniLM (inside its package, always at hand), made only for the memory tool
            try
            {
                await using var toolbox = await Toolbox.OpenAsync(parsed.GetValue(f.Tools) ?? [], cancellationToken: cancellation,
                    storeEmbedder: s => RagEmbedder.ForStore(s, null),
                    memory: () => new FactMemory(Store(), memoryEmbedder = RagEmbedder.Open(RagEmbedder.MiniLm)));
                var budget = ContextBudgetReducer.BudgetFor(context, options.MaxOutputTokens, options.Instructions ?? AgentOptions.DefaultInstructions,
                    toolbox.Tools, countTokens);
                if (budget < 1)
                    throw new ArgumentException($"the context ({context} tokens) leaves no room for the conversation after the reply, instructions and tools");
                options = options with
                {
                    ContextReducer = new ContextBudgetReducer(budget, countTokens, policy, chat),
                    ContextProviders = toolbox.Recall is { } recall ? [recall] : null,
                };
                Console.Error.WriteLine($"agent: {toolbox.Tools.Count} tools ({string.Join(", ", toolbox.Tools.Select(t => t.Name))}), " +
                    $"at most {options.MaxSteps} steps, {budget} tokens of history ({parsed.GetValue(f.ContextPolicy)} beyond)");
                var loop = new AgentLoop(chat, toolbox.Tools, options, toolbox.SourceGoneAsync);
                var result = await RunGoalAsync(loop, parsed.GetValue(f.Goal)!, sessionSpec, sessionFile, Store, cancellation);
                if (toolbox.Recall is { LastRecalled.Count: > 0 } recalled)
                    Console.Error.WriteLine("agent: recalled " + string.Join("; ", recalled.LastRecalled.Select(r => $"{OneLine(r.Fact)} ({r.Score:0.00})")));
                if (result.Answer.Length > 0) answerOut.WriteLine(result.Answer);
                else if (result.StoppedBy is null) Console.Error.WriteLine("agent: the model's answer is empty (only white space)");
                if (result.StoppedBy is null) return 0;
                Console.Error.WriteLine($"error: stopped: {result.StoppedBy}");
                return 1;
            }
            finally
            {
                memoryEmbedder?.Dispose();
                store?.Dispose();
            }
        }
    }

    /// <summary>Runs the goal in its conversation: none, a JSON session file, or a named session in the memory file
    /// (saved after the goal, in one transaction).</summary>
    static async Task<AgentResult> RunGoalAsync(AgentLoop loop, string goal, string? sessionSpec, string? sessionFile,
        Func<AgentMemoryStore> store, CancellationToken cancellation)
    {
        if (sessionFile is not null)
        {
            var session = await AgentSessionFile.LoadAsync(loop.Agent, sessionFile, cancellation);
            var result = await loop.RunAsync(goal, ShowStep, session, cancellation);
            await AgentSessionFile.SaveAsync(loop.Agent, session, sessionFile, cancellation);
            return result;
        }
        if (sessionSpec is null) return await loop.RunAsync(goal, ShowStep, cancellationToken: cancellation);
        var stored = await StoredSession.OpenAsync(loop, store(), sessionSpec, cancellation);
        Console.Error.WriteLine($"agent: session '{stored.Name}' ({stored.Count} messages so far)");
        var answer = await loop.RunAsync(goal, ShowStep, stored.Session, cancellation);
        stored.Save();
        return answer;
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
