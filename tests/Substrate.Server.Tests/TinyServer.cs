using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Models;
using Substrate.Models.Lora;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Server.Tests;

/// <summary>
/// A random-init tiny Llama (seeded) with a byte-level BPE tokenizer trained here on a few KB, saved as a Hugging Face
/// folder, loaded into an <see cref="InferenceEngine"/> and served on 127.0.0.1 at a free port.
/// </summary>
public sealed class TinyServer : IAsyncLifetime
{
    public const string ApiKey = "test-key";
    public const string ModelName = "tiny";
    private static readonly Lazy<string> Folder = new(CreateFolder);
    private static readonly Lazy<(string, string)[]> AdapterFolders = new(CreateAdapters);

    /// <summary>The tiny model's Hugging Face folder (created once per test run).</summary>
    public static string ModelFolderPath => Folder.Value;

    public InferenceEngine Engine { get; private set; } = null!;
    public SubstrateServer Server { get; private set; } = null!;
    public Uri BaseUrl { get; private set; } = null!;
    public BatchSchedulerOptions Scheduler => new() { MaxBatch = 4, QueueCapacity = 16 };

    /// <summary>The base and two random LoRA adapters, "a" and "b" (served as tiny:a, tiny:b).</summary>
    public static InferenceEngine CreateEngine(BatchSchedulerOptions scheduler) =>
        InferenceEngine.Load(Folder.Value, ModelName, adapters: AdapterFolders.Value, options: scheduler);

    public async Task InitializeAsync()
    {
        Engine = CreateEngine(Scheduler);
        Server = SubstrateServer.Create(Engine, new ServerOptions
        {
            Urls = ["http://127.0.0.1:0"], ApiKeys = [ApiKey], MaxRequestBytes = 64 * 1024, DataDir = Path.Combine(Folder.Value, "data"),
        });
        await Server.StartAsync();
        BaseUrl = new Uri(Server.Urls[0]);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Engine.Dispose();
    }

    public HttpClient Http(string? key = ApiKey)
    {
        var http = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return http;
    }

    private static (string, string)[] CreateAdapters()
    {
        using var lora = LoraModel.Load(Folder.Value);
        return new[] { "a", "b" }.Select((name, i) =>
        {
            lora.AddAdapter(name, new LoraAdapterConfig { R = 4, LoraAlpha = 8, TargetModules = [LoraAdapterConfig.AllLinear] }, seed: 100 + i);
            using (no_grad())
                foreach (var (_, p) in lora.AdapterParameters(name)) p.normal_(0, 0.5); // B = 0 would be the base
            var dir = Path.Combine(Folder.Value, "adapter-" + name);
            lora.SaveAdapter(name, dir);
            return (name, dir);
        }).ToArray();
    }

    private static string CreateFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"substrate-server-tests-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var words = "the quick brown fox jumps over the lazy dog while a model learns to speak json { } [ ] \" : , true false null 0 1 2 3 4 5 6 7 8 9 name city age weather paris tool call arguments";
        var documents = Enumerable.Range(0, 60).Select(i => string.Join(' ', words.Split(' ').Skip(i % 7).Concat(words.Split(' ').Take(i % 7))));
        var tokenizer = BpeTrainer.Train(documents, new BpeTrainerOptions { VocabSize = 400 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
        manual_seed(11);
        using var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 64, MaxPositionEmbeddings = 1024, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        });
        ModelFolder.Save(model, dir);
        return dir;
    }
}
