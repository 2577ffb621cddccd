using Substrate.Agents.Tests;
using Substrate.Evaluation;
using Substrate.Inference;
using Substrate.Interop.Gguf;
using Substrate.Tokenizers.ChatTemplates;
using Substrate.Nn.Ggml;

namespace Substrate.Cli.Tests;

/// <summary><c>substrate chat --model x.gguf</c>: the file's tokenizer and chat format on the CPU decoder over its blocks
/// reply as the library does (<see cref="ChatAnswerer"/> over <see cref="GgufGenerator"/>).</summary>
public class GgufChatTests
{
    [Fact]
    public void Chat_on_a_quantized_file_replies_as_the_library_does()
    {
        var dir = Directory.CreateTempSubdirectory("substrate-gguf-chat-").FullName;
        var file = Path.Combine(dir, "tiny-q8_0.gguf");
        GgufQuantizer.Quantize(TinyModelFolder.Path, file, GgufFileType.Q8_0); // hidden 32: whole Q8_0 blocks, multiplied in place
        var greedy = new GenerationOptions { MaxTokens = 12, Temperature = 0 };
        string expected; // this random model ends its turn at once (an empty reply): the test pins the path, not the text
        using (var gguf = GgufGenerator.Open(file))
        {
            var answerer = new ChatAnswerer(gguf.Generator, gguf.TokenizerConfig, gguf.Decoder.Config, gguf.Decoder.MaxLength);
            expected = answerer.Reply([new ChatMessage("user", "hello there")], greedy);
        }

        var result = SubstrateProcess.RunWithInput("hello there\n", "chat", "--model", file, "--max-tokens", "12", "--temperature", "0");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(expected, result.Stdout.Trim());
        Assert.Contains("model> ", result.Stderr); // a turn was taken
    }
}
