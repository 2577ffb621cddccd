using Substrate.Inference.Serving;
using Substrate.Models;
using Substrate.Tokenizers.ChatTemplates;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Server.Tests;

/// <summary>
/// A tiny seeded Llama fully fine-tuned here, in seconds, until it has memorised a handful of tool-use chats in the
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
            .Append(ChatFormat.ToolsPrompt([Calculator])).Append(ChatFormat.Transcript).ToList();
        var tokenizer = BpeTrainer.Train(Enumerable.Repeat(corpus, 4).SelectMany(c => c), new BpeTrainerOptions { VocabSize = 500 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
        manual_seed(7);
        using (var random = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 128, MaxPositionEmbeddings = 1024, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        }))
            ModelFolder.Save(random, dir);
        List<(long[] Ids, int PromptLength)> examples;
        using (var engine = InferenceEngine.Load(dir, "tool"))
            examples = [.. Chats.SelectMany(c => Examples(engine, c))];
        using var model = ModelFolder.Load(dir);
        var steps = Fit(model, examples);
        ModelFolder.Save(model, dir);
        return (dir, steps);
    }

    static string ToolCallText(string expression) =>
        ChatFormat.ToolCallText(new ToolCall("", "calculator", $"{{\"expression\": \"{expression}\"}}"));

    /// <summary>Both steps of one chat as (prompt ++ target ids, prompt length): the served prompt, then the reply and the
    /// template's end of turn (<c>&lt;|eot_id|&gt;</c>, which ends generation there).</summary>
    static IEnumerable<(long[], int)> Examples(InferenceEngine engine, (string Question, string Expression, string Result) chat)
    {
        var question = new ChatMessage("user", chat.Question);
        var call = new ToolCall("call_1", "calculator", $"{{\"expression\": \"{chat.Expression}\"}}");
        (IReadOnlyList<ChatMessage> Prompt, string Reply)[] steps =
        [
            ([question], ToolCallText(chat.Expression)),
            ([question, new ChatMessage("assistant", "", [call]), new ChatMessage("tool", chat.Result, ToolCallId: "call_1")], Answer(chat.Result)),
        ];
        foreach (var (prompt, reply) in steps)
        {
            var promptIds = engine.EncodeChat(prompt, [Calculator]);
            var target = engine.Tokenizer.Encode(reply).Append(EndOfTurn(engine)).ToArray();
            yield return ([.. promptIds.Concat(target).Select(i => (long)i)], promptIds.Length);
        }
    }

    static int EndOfTurn(InferenceEngine engine) =>
        engine.Tokenizer.TokenToId("<|eot_id|>") ?? throw new InvalidOperationException("the tiny model's template has no <|eot_id|>");

    /// <summary>Full fine-tuning with Adam on the reply tokens only, until every one is the argmax (at most 800 steps).</summary>
    static int Fit(LlamaForCausalLM model, List<(long[] Ids, int PromptLength)> examples)
    {
        model.train();
        using var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        for (var step = 1; step <= 800; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var allRight = true;
            foreach (var (ids, promptLength) in examples)
            {
                using var input = tensor(ids[..^1]).unsqueeze(0);                       // (1, T)
                using var logits = model.forward(input).squeeze(0)[(promptLength - 1)..]; // (targets, V)
                using var targets = tensor(ids[promptLength..]);                          // (targets)
                using var loss = nn.functional.cross_entropy(logits, targets);
                loss.backward();
                allRight &= logits.argmax(1).eq(targets).all().item<bool>();
            }
            if (allRight) return step - 1; // the weights before this step already reproduce every reply
            optimizer.step();
        }
        throw new InvalidOperationException("the tool-calling model did not learn its chats in 800 steps");
    }
}
