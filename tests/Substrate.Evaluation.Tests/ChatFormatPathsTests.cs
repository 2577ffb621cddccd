using Microsoft.Extensions.AI;
using Substrate.Data.Instructions;
using Substrate.Inference;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;
using Substrate.Inference.Tests;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;
using ChatMessage = Substrate.Tokenizers.ChatTemplates.ChatMessage;

namespace Substrate.Evaluation.Tests;

/// <summary>
/// One chat format: the same conversations rendered through the training path (<see cref="SupervisedEncoder"/>), the
/// serving path (<see cref="InferenceEngine"/>, so the server and the IChatClient), and <see cref="ChatAnswerer"/>
/// (<c>substrate chat</c>, evaluation) give byte-equal prompts — for a templated and a template-less model.
/// </summary>
public class ChatFormatPathsTests
{
    private const string ChatMl = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static readonly ByteTokenizer Tokenizer = new();

    public static TheoryData<string> Configs => ["", ChatMl];

    private static readonly ToolCall Call = new("call_1", "weather", "{\"city\": \"Paris\"}");

    private static readonly ChatMessage[][] Conversations =
    [
        [new("system", "Be brief."), new("user", "Hello there")],
        [new("user", "Hi"), new("assistant", "Hello!"), new("user", "How are you?")],
        [new("system", "Use tools."), new("user", "Weather in Paris?"), new("assistant", "", [Call]),
            new("tool", "{\"temp\": 21}", ToolCallId: "call_1", Name: "weather")],
    ];

    private static TokenizerConfig Config(string template) => TokenizerConfig.Empty with { ChatTemplate = template.Length > 0 ? template : null };

    /// <summary>The ids fine-tuning puts before the last assistant turn of <paramref name="conversation"/> + an answer.</summary>
    private static int[] TrainingPrompt(SupervisedEncoder encoder, ChatMessage[] conversation)
    {
        var example = encoder.Encode(new ChatRecord([.. conversation, new ChatMessage("assistant", "Fine.")], "test"));
        var start = example.Train.Length;
        while (start > 0 && example.Train[start - 1]) start--; // the last assistant turn's tokens are the last run of targets
        return example.Ids[..start];
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Training_serving_and_chat_render_the_same_prompt(string template)
    {
        var config = Config(template);
        using var loaded = new LoadedModel(TinyModel.Create(maxPositions: 512), Tokenizer, config, "tiny");
        using var engine = new InferenceEngine(loaded.Model, Tokenizer, config, "tiny");
        var encoder = new SupervisedEncoder(Tokenizer, config);
        var answerer = new ChatAnswerer(loaded);
        foreach (var conversation in Conversations)
        {
            var training = TrainingPrompt(encoder, conversation);
            Assert.Equal(encoder.Format.Render(conversation, addGenerationPrompt: true), Tokenizer.Decode(training));
            Assert.Equal(training, engine.EncodeChat(conversation, []));
            Assert.Equal(training, answerer.Prompt([.. conversation], window: 512));
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Tools_are_described_the_same_way_in_every_path(string template)
    {
        var config = Config(template);
        using var engine = new InferenceEngine(TinyModel.Create(maxPositions: 512), Tokenizer, config, "tiny");
        ToolDefinition[] tools = [new("weather", "The weather in a city", "{\"type\":\"object\"}")];
        var format = new ChatFormat(Tokenizer, config);
        var served = Tokenizer.Decode(engine.EncodeChat(Conversations[2], tools));
        Assert.Equal(format.Render(Conversations[2], addGenerationPrompt: true, tools), served);
        Assert.Contains(format.ToolsDescription(tools), served);
        Assert.Contains("{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}", served);
        Assert.Contains("{\"temp\": 21}", served);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public async Task The_chat_client_sends_the_training_prompt(string template)
    {
        var config = Config(template);
        using var model = TinyModel.Create(maxPositions: 512);
        using var engine = new InferenceEngine(model, Tokenizer, config, "tiny");
        IChatClient client = new SubstrateChatClient(engine);
        Microsoft.Extensions.AI.ChatMessage[] messages =
            [new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello!"), new(ChatRole.User, "How are you?")];
        var response = await client.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 1 });
        var training = TrainingPrompt(new SupervisedEncoder(Tokenizer, config), Conversations[1]);
        Assert.Equal(training.Length, response.Usage!.InputTokenCount);
    }
}
