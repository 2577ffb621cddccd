using Substrate.Inference.Serving;
using Substrate.Models;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Server.Tests;

/// <summary>
/// A tiny seeded Llama fully fine-tuned here (about a hundred Adam steps on one batch of three chats) until it has memorised a handful of tool-use chats in the
/// server's own chat format (the prompts are the ids <see cref="InferenceEngine.EncodeChat"/> serves, so what it learned
/// is exactly what it is asked): question → a calculator call, and question + call + the tool's result → an answer
/// that quotes the result. Training stops when greedy decoding under teacher forcing reproduces every target token,
/// so the served model's greedy replies are those targets.
/// </summary>
public static class ToolCallingModel
{
    public const string CalculatorSchema = """{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}""";
    public const string CalculatorDescription = "Evaluates an arithmetic expression.";

    /// <summary>The chats it learns: question, the expression it passes to the calculator, the calculator's result.</summary>
    public static readonly (string Question, string Expression, string Result)[] Chats =
    [
        ("What is 6 * 7?", "6 * 7", "42"),
        ("What is 9 - 4?", "9 - 4", "5"),
        ("What is 3 * 15?", "3 * 15", "45"),
    ];

    public static string Answer(string result) => $"The answer is {result}.";

    static readonly ToolDefinition Calculator = new("calculator", CalculatorDescription, CalculatorSchema);

    static readonly Lazy<(string Folder, int Steps)> Trained = new(Train);

    /// <summary>The model folder (trained once per test run) and the optimizer steps it took.</summary>
    public static (string Folder, int Steps) Folder => Trained.Value;

    static (string, int) Train()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"substrate-tool-model-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var corpus = Chats.SelectMany(c => new[] { c.Question, ToolCallText(c.Expression), Answer(c.Result) })
            .Append(ChatFormat.CompactToolsPrompt([Calculator])).Append(ChatFormat.Transcript).ToList();
        var tokenizer = BpeTrainer.Train(Enumerable.Repeat(corpus, 4).SelectMany(c => c), new BpeTrainerOptions { VocabSize = 500 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
        manual_seed(7);
        using (var random = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 128, MaxPositionEmbeddings = 1024, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        }))
            ModelFolder.Save(random, dir);
        var format = new ChatFormat(TokenizerLoader.Load(dir), TokenizerLoader.LoadConfig(dir));
        var examples = Chats.Select(c => Example(format, c)).ToList();
        using var model = ModelFolder.Load(dir);
        var steps = Fit(model, examples);
        ModelFolder.Save(model, dir);
        return (dir, steps);
    }

    static string ToolCallText(string expression) =>
        ChatFormat.ToolCallText(new ToolCall("", "calculator", $"{{\"expression\": \"{expression}\"}}"));

    /// <summary>One chat — question, calculator call, the tool's result, answer — as ids and which of them are targets:
    /// each assistant turn exactly as the template renders it, through its end of turn (<c>&lt;|eot_id|&gt;</c>, which
    /// ends generation there), the rest exactly the prompt <see cref="InferenceEngine.EncodeChat"/> serves before it.</summary>
    static (long[] Ids, bool[] Targets) Example(ChatFormat format, (string Question, string Expression, string Result) chat)
    {
        var call = new ToolCall("call_1", "calculator", $"{{\"expression\": \"{chat.Expression}\"}}");
        List<ChatMessage> messages =
        [
            new("user", chat.Question), new("assistant", "", [call]),
            new("tool", chat.Result, ToolCallId: "call_1"), new("assistant", Answer(chat.Result)),
        ];
        var (ids, targets, done) = (new List<long>(), new List<bool>(), "");
        void Add(string text, bool target)
        {
            var piece = format.Encode(text);
            ids.AddRange(piece.Select(i => (long)i));
            targets.AddRange(Enumerable.Repeat(target, piece.Length));
        }
        foreach (var turn in new[] { 1, 3 })
        {
            var before = format.Render(messages[..turn], addGenerationPrompt: true, [Calculator]);
            var through = format.Render(messages[..(turn + 1)], addGenerationPrompt: false, [Calculator]);
            if (!through.StartsWith(before, StringComparison.Ordinal) || !before.StartsWith(done, StringComparison.Ordinal))
                throw new InvalidOperationException("the tiny model's template does not render turn by turn");
            Add(before[done.Length..], false);
            Add(through[before.Length..], true);
            done = through;
        }
        return ([.. ids], [.. targets]);
    }

    /// <summary>Full fine-tuning with Adam on the assistant tokens only, all chats in one batch (right-padded: causal
    /// attention keeps padding out of the real positions), until every target is the argmax (at most 400 steps).</summary>
    static int Fit(LlamaForCausalLM model, List<(long[] Ids, bool[] Targets)> examples)
    {
        var length = examples.Max(e => e.Ids.Length);
        long[] Pad(long[] ids) => [.. ids, .. new long[length - ids.Length]];
        bool[] PadTargets(bool[] targets) => [.. targets, .. new bool[length - targets.Length]];
        using var ids = stack(examples.Select(e => tensor(Pad(e.Ids))).ToArray());              // (B, L)
        using var targets = stack(examples.Select(e => tensor(PadTargets(e.Targets))).ToArray()); // (B, L)
        using var input = ids[.., ..^1];                                                       // (B, L-1)
        using var mask = targets[.., 1..];                                                     // (B, L-1): the next token is a target
        using var wanted = ids[.., 1..].index(mask);                                           // (N)
        model.train();
        using var optimizer = optim.Adam(model.parameters(), lr: 3e-3);
        for (var step = 1; step <= 400; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.forward(input).index(mask);                                    // (N, V)
            if (logits.argmax(1).eq(wanted).all().item<bool>()) return step - 1; // these weights already reproduce every reply
            nn.functional.cross_entropy(logits, wanted).backward();
            optimizer.step();
        }
        throw new InvalidOperationException("the tool-calling model did not learn its chats in 400 steps");
    }
}
