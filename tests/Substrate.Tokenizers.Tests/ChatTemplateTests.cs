using Substrate.Tokenizers.ChatTemplates;
using Substrate.Tokenizers.Formats;

namespace Substrate.Tokenizers.Tests;

/// <summary>Real chat templates against renderings written by hand from their semantics.</summary>
public class ChatTemplateTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "Be brief."),
        new("user", " Hi there \n"),
        new("assistant", "Hello!"),
        new("user", "Bye"),
    ];

    private static readonly ChatMessage[] UserAssistant = [new("user", "Hi"), new("assistant", "Hello"), new("user", "Bye")];

    [Fact]
    public void Llama3()
    {
        var t = new ChatTemplate(HfTokenizerJsonWriter.Llama3ChatTemplate);
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
            t.Render(Conversation, addGenerationPrompt: true, bosToken: "<|begin_of_text|>"));
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
            t.Render([new("user", "Hi")], addGenerationPrompt: false, bosToken: "<|begin_of_text|>"));
    }

    [Fact]
    public void Llama3WithWhitespaceControlOverManyLines()
    {
        const string source = """
            {{- bos_token }}
            {%- for message in messages %}
                {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
            {%- endif %}
            """;
        var expected = new ChatTemplate(HfTokenizerJsonWriter.Llama3ChatTemplate).Render(Conversation, true, "<s>");
        Assert.Equal(expected, new ChatTemplate(source).Render(Conversation, true, "<s>"));
    }

    [Fact]
    public void ChatMl()
    {
        var t = new ChatTemplate("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}");
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
            t.Render(UserAssistant, addGenerationPrompt: true));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n", t.Render([new("user", "Hi")], addGenerationPrompt: false));
    }

    private const string Mistral = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    [Fact]
    public void MistralInstructAndItsErrors()
    {
        var t = new ChatTemplate(Mistral);
        Assert.Equal("<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]", t.Render(UserAssistant, true, "<s>", "</s>"));
        var e = Assert.Throws<ChatTemplateException>(() => t.Render([new("assistant", "x")], true, "<s>", "</s>"));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.Message);
        Assert.Throws<ChatTemplateException>(() => t.Render(Conversation, true, "<s>", "</s>"));
    }

    [Fact]
    public void Llama2WithSystemPromptSlicesAndStrip()
    {
        var t = new ChatTemplate("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}");
        Assert.Equal("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi there [/INST] Hello! </s><s>[INST] Bye [/INST]",
            t.Render(Conversation, true, "<s>", "</s>"));
        Assert.Equal("<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]", t.Render(UserAssistant, true, "<s>", "</s>"));
    }

    [Fact]
    public void ZephyrMultiLineUsesTrimAndLstripBlocks()
    {
        const string source = """
            {% for message in messages %}
            {% if message['role'] == 'user' %}
            {{ '<|user|>\n' + message['content'] + eos_token }}
            {% elif message['role'] == 'system' %}
            {{ '<|system|>\n' + message['content'] + eos_token }}
            {% elif message['role'] == 'assistant' %}
            {{ '<|assistant|>\n'  + message['content'] + eos_token }}
            {% endif %}
            {% if loop.last and add_generation_prompt %}
            {{ '<|assistant|>' }}
            {% endif %}
            {% endfor %}
            """;
        Assert.Equal("<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye</s>\n<|assistant|>\n",
            new ChatTemplate(source).Render(UserAssistant, true, "<s>", "</s>"));
    }

    [Fact]
    public void ExpressionsLoopVariablesAndNamespaces()
    {
        var t = new ChatTemplate("{% set ns = namespace(n=0) %}{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.content|upper }}{{ ',' if not loop.last }}{% set ns.n = ns.n + 1 %}{% endfor %}|{{ ns.n }}|{{ messages|length }}|{{ 'x' ~ 3 }}|{{ 'user' in ['user'] }}|{{ messages[-1].content }}|{{ undefined_thing is defined }}");
        Assert.Equal("1/3:HI,2/3:HELLO,3/3:BYE|3|3|x3|True|Bye|False", t.Render(UserAssistant, false));
    }

    [Theory]
    [InlineData("{{ messages[-1].content }}", "Bye")]
    [InlineData("{{ messages[2]['content'] }}", "Bye")]
    [InlineData("{{ messages[-1]['role'] }}", "user")]
    public void Indexing(string source, string expected) => Assert.Equal(expected, new ChatTemplate(source).Render(UserAssistant, false));

    [Fact]
    public void SyntaxErrorsAreFormatExceptions()
    {
        Assert.Throws<FormatException>(() => new ChatTemplate("{% for m in messages %}{{ m }}"));
        Assert.Throws<FormatException>(() => new ChatTemplate("{{ 'a' "));
        Assert.Throws<FormatException>(() => new ChatTemplate("{% macro x() %}no end"));
        Assert.Throws<FormatException>(() => new ChatTemplate("{% filter upper %}x{% endfilter %}"));
    }
}
