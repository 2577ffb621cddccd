using System.Text;
using System.Text.Json;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Server.Tests;

/// <summary>
/// /v1/chat/completions for a model whose chat template takes tools (the tiny model given Qwen 3's real
/// tokenizer_config.json from the reference cache that scripts/fetch-test-references.sh fills): the prompt is the
/// template's own rendering of tools, calls and results, and a forced call comes back as tool_calls. Skips without the cache.
/// </summary>
public class NativeToolServerTests
{
    [SkippableFact]
    public async Task Tools_reach_the_template_and_a_forced_call_comes_back_as_tool_calls()
    {
        var configPath = Inference.Tests.ReferenceCache.QwenConfig;
        Skip.If(configPath is null, Inference.Tests.ReferenceCache.Missing);
        var config = TokenizerConfig.Read(configPath);
        using var loaded = LoadedModel.Load(TinyServer.ModelFolderPath);
        using var engine = new InferenceEngine(loaded.Model, loaded.Tokenizer, config, "tiny");
        await using var server = SubstrateServer.Create(engine, new ServerOptions { Urls = ["http://127.0.0.1:0"] });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]), Timeout = TimeSpan.FromSeconds(120) };
        const string body = """
            {"model": "tiny", "max_tokens": 200, "temperature": 0.5, "seed": 1,
             "messages": [{"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}, {"role": "user", "content": "And in Rome?"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
             "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
            """;
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        using var doc = JsonDocument.Parse(text);
        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var call = Assert.Single(choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());

        // The prompt the server counted is the template's own rendering (tools inside <tools>, the earlier call as <tool_call>).
        ToolDefinition[] tools = [new("get_weather", "Weather in a city", """{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}""")];
        ChatMessage[] messages =
        [
            new("user", "Weather in Paris?"), new("assistant", "", [new ToolCall("call_1", "get_weather", """{"city": "Paris"}""")]),
            new("tool", "sunny", ToolCallId: "call_1"), new("user", "And in Rome?"),
        ];
        var prompt = engine.EncodeChat(messages, tools);
        Assert.Equal(prompt.Length, doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        string rendered = loaded.Tokenizer.Decode(prompt);
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", rendered);
        Assert.Contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", rendered);
    }
}
