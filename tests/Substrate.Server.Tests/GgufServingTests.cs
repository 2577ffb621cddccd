using System.Net.Http.Json;
using System.Text.Json;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Nn.Ggml;
using static TorchSharp.torch;

namespace Substrate.Server.Tests;

/// <summary>
/// A Q4_K_M GGUF file served on the CPU decoder (<see cref="GgufInferenceEngine"/>): concurrent requests decoded together,
/// each step one batched pass over the quantized blocks, get the greedy text the file generates alone
/// (<see cref="GgufGenerator"/>, what <c>substrate generate --model x.gguf</c> runs); embeddings are refused with a 400.
/// </summary>
public class GgufServingTests
{
    private static readonly Lazy<string> File = new(CreateFile);

    [Fact]
    public async Task Concurrent_requests_on_a_quantized_file_equal_each_request_alone()
    {
        string[] prompts = ["the quick", "lazy dog", "a fox jumps over the lazy dog while a model", "json", "the quick brown fox", "name city"];
        var greedy = new GenerationOptions { MaxTokens = 16, Temperature = 0 };
        List<string> alone;
        using (var generator = GgufGenerator.Open(File.Value, context: 256))
            alone = prompts.Select(p => string.Concat(generator.Generator.Stream(p, greedy))).ToList();
        Assert.True(alone.Distinct().Count() > 2, "the prompts should not all continue alike");

        using var engine = GgufInferenceEngine.Open(File.Value, "tiny-q4", new BatchSchedulerOptions { MaxBatch = 4, QueueCapacity = 16, ContextLength = 256 });
        await using var server = SubstrateServer.Create(engine, new ServerOptions
        {
            Urls = ["http://127.0.0.1:0"], DataDir = Path.Combine(Path.GetDirectoryName(File.Value)!, "data"),
        });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]), Timeout = TimeSpan.FromSeconds(120) };
        async Task<string> Complete(string prompt)
        {
            var response = await http.PostAsJsonAsync("/v1/completions", new { model = "tiny-q4", prompt, max_tokens = 16, temperature = 0 });
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("choices")[0].GetProperty("text").GetString()!;
        }
        for (var round = 0; round < 2; round++) Assert.Equal(alone, await Task.WhenAll(prompts.Select(Complete))); // 6 requests, 4 slots

        var embedding = await http.PostAsJsonAsync("/v1/embeddings", new { model = "tiny-q4", input = "the quick" });
        Assert.Equal(400, (int)embedding.StatusCode);
        Assert.Contains("model folder", await embedding.Content.ReadAsStringAsync());
    }

    /// <summary>The tiny server's tokenizer on a model of whole 256-blocks (hidden 256, ffn 512, 2 layers), quantized to Q4_K_M.</summary>
    private static string CreateFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"substrate-gguf-serving-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json" })
            if (System.IO.File.Exists(Path.Combine(TinyServer.ModelFolderPath, name)))
                System.IO.File.Copy(Path.Combine(TinyServer.ModelFolderPath, name), Path.Combine(dir, name), overwrite: true);
        var vocab = ModelFolder.ReadConfig(TinyServer.ModelFolderPath).VocabSize;
        manual_seed(12);
        using (var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = vocab, HiddenSize = 256, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 512, MaxPositionEmbeddings = 1024, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        }))
            ModelFolder.Save(model, dir);
        var file = Path.Combine(dir, "tiny-q4_K_M.gguf");
        GgufQuantizer.Quantize(dir, file, GgufFileType.Q4_K_M);
        return file;
    }
}
