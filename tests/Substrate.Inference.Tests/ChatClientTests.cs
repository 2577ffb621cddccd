using Microsoft.Extensions.AI;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;
using ChatMessage = Substrate.Tokenizers.ChatTemplates.ChatMessage;

namespace Substrate.Inference.Tests;

public class ChatClientTests
{
    [Fact]
    public async Task In_process_chat_equals_the_generator_on_the_rendered_prompt()
    {
        using var model = TinyModel.Create(maxPositions: 128);
        var tokenizer = new ByteTokenizer();
        using var engine = new InferenceEngine(model, tokenizer, TokenizerConfig.Empty, "tiny");
        IChatClient chat = new SubstrateChatClient(engine);
        var response = await chat.GetResponseAsync("hi", new ChatOptions { Temperature = 0, MaxOutputTokens = 10 });

        var format = new ChatFormat(tokenizer, TokenizerConfig.Empty);
        var prompt = format.EncodePrompt([new ChatMessage("user", "hi")]);
        Assert.Equal("User: hi\nAssistant:", tokenizer.Decode(prompt)); // the transcript, no BOS: as fine-tuning encodes it
        var stats = new GenerationStats();
        var options = new GenerationOptions { Temperature = 0, MaxTokens = 10 };
        var expected = string.Concat(new Generator(model, tokenizer).Stream(prompt, options, StopRules.For(model, tokenizer, options, format), stats));
        Assert.Equal(expected, response.Text);
        Assert.Equal(stats.FinishReason == FinishReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(stats.GeneratedTokens, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Embeddings_are_unit_vectors_and_the_same_text_gives_the_same_vector()
    {
        using var model = TinyModel.Create();
        using var engine = new InferenceEngine(model, new ByteTokenizer(), TokenizerConfig.Empty, "tiny");
        IEmbeddingGenerator<string, Embedding<float>> embed = new SubstrateEmbeddingGenerator(engine);
        var result = await embed.GenerateAsync(["abc", "xyz", "abc"]);
        Assert.Equal(3, result.Count);
        foreach (var e in result) Assert.Equal(1.0, Math.Sqrt(e.Vector.ToArray().Sum(x => (double)x * x)), 5);
        Assert.Equal(result[0].Vector.ToArray(), result[2].Vector.ToArray());
        Assert.NotEqual(result[0].Vector.ToArray(), result[1].Vector.ToArray());
    }

    [Fact]
    public void The_models_own_chat_template_renders_the_prompt()
    {
        const string chatMl = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        var format = new ChatFormat(new ByteTokenizer(), TokenizerConfig.Empty with { ChatTemplate = chatMl });
        var prompt = format.Render([new ChatMessage("system", "Be kind."), new ChatMessage("user", "Hello")], addGenerationPrompt: true);
        Assert.Equal("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Empty(format.StopStrings);
        Assert.Equal([ByteTokenizer.Eos], format.StopIds); // the byte vocabulary has no <|im_end|> token
    }
}
