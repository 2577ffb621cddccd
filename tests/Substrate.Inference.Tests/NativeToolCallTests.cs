using Microsoft.Extensions.AI;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;
using ChatMessage = Substrate.Tokenizers.ChatTemplates.ChatMessage;

namespace Substrate.Inference.Tests;

/// <summary>
/// Serving with a real family's chat template (Qwen 3's, from the reference cache that
/// scripts/fetch-test-references.sh fills): the engine and the IChatClient hand tools to the template, and a forced
/// tool call still comes back as a call. Skips when the cache is missing.
/// </summary>
public class NativeToolCallTests
{
    private static readonly string? QwenConfig = ReferenceCache.QwenConfig;

    private const string Missing = ReferenceCache.Missing;

    private static readonly ToolDefinition Weather =
        new("get_weather", "Weather in a city", """{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}""");

    [SkippableFact]
    public void The_engine_hands_tools_to_a_template_that_takes_them()
    {
        Skip.If(QwenConfig is null, Missing);
        var config = TokenizerConfig.Read(QwenConfig);
        var tokenizer = new ByteTokenizer();
        using var engine = new InferenceEngine(TinyModel.Create(maxPositions: 1024), tokenizer, config, "tiny");
        var format = new ChatFormat(tokenizer, config);
        ChatMessage[] messages =
        [
            new("user", "Weather in Paris?"), new("assistant", "", [new ToolCall("call_1", "get_weather", """{"city": "Paris"}""")]),
            new("tool", "sunny", ToolCallId: "call_1", Name: "get_weather"),
        ];
        string served = tokenizer.Decode(engine.EncodeChat(messages, [Weather]));
        Assert.Equal(format.Render(messages, addGenerationPrompt: true, [Weather]), served);
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", served);
        Assert.Contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", served);
        Assert.Contains("<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>", served);
        Assert.DoesNotContain(ChatFormat.ToolsPrompt([Weather]), served);
    }

    [SkippableFact]
    public async Task A_forced_tool_call_through_the_IChatClient_comes_back_as_a_call()
    {
        Skip.If(QwenConfig is null, Missing);
        using var engine = new InferenceEngine(TinyModel.Create(maxPositions: 1024), new ByteTokenizer(), TokenizerConfig.Read(QwenConfig), "tiny");
        IChatClient chat = new SubstrateChatClient(engine);
        var weather = AIFunctionFactory.Create((string city) => $"{city}: sunny", "get_weather", "Weather in a city");
        var options = new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireSpecific("get_weather"), Temperature = 0.5f,
            MaxOutputTokens = 200, Seed = 1 };
        var response = await chat.GetResponseAsync("Weather in Paris?", options);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
    }
}
