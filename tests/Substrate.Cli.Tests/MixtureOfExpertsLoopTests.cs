using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Substrate.Models;
using Substrate.Training;

namespace Substrate.Cli.Tests;

/// <summary>
/// A mixture of experts through the <c>substrate</c> command: pretrain tiny-moe (router_loss in metrics.jsonl) → LoRA on the
/// router and the experts by name (its loss falls on a few repeated chats) → generate with the adapter = the merged model →
/// full fine-tuning → serve the base with the adapter: concurrent greedy requests give what <c>generate</c> gives alone.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MixtureOfExpertsLoopTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-moe-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    static SubstrateProcess.Result Ok(SubstrateProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout:\n{result.Stdout}\nstderr:\n{result.Stderr}");
        return result;
    }

    static string Data => Path.GetDirectoryName(SubstrateProcess.CorpusFolder())!;

    /// <summary>The step lines of a run's metrics.jsonl (validation lines have no loss).</summary>
    static List<MetricRecord> Steps(string run) => MetricsLog.Read(Path.Combine(run, MetricsLog.FileName)).Where(r => r.Loss is not null).ToList();

    string TinyMoe()
    {
        string slice = Path.Combine(work, "slice.jsonl.gz");
        File.Copy(Path.Combine(Data, "corpus", "validation.jsonl.gz"), slice);
        string tok = Path.Combine(work, "tok"), shards = Path.Combine(work, "shards"), model = Path.Combine(work, "moe");
        Ok(SubstrateProcess.Run("tokenizer", "train", "--input", slice, "--vocab-size", "512", "--out", tok));
        Ok(SubstrateProcess.Run("data", "prepare", "--input", slice, "--tokenizer", tok, "--out", shards, "--validation-every", "10"));
        Ok(SubstrateProcess.Run("pretrain", "--config", "tiny-moe", "--data", shards, "--out", model, "--max-steps", "4", "--threads", "1",
            "--set", "batch_size=2", "seq_len=64", "max_position_embeddings=128", "dtype=float32"));
        var steps = Steps(model);
        Assert.Equal(4, steps.Count);
        Assert.All(steps, s => Assert.True(s.RouterLoss > 0, "pretraining a mixture records its router loss")); // aux ≈ 0.01·1 + z
        return model;
    }

    [Fact]
    public async Task PretrainFinetuneMergeAndServeAMixtureOfExperts()
    {
        string model = TinyMoe(), chats = Path.Combine(work, "chats.jsonl");
        File.WriteAllLines(chats, Enumerable.Range(0, 8).Select(i => JsonSerializer.Serialize(new
        {
            messages = new[]
            {
                new { role = "user", content = $"Name ship {i % 4}." }, new { role = "assistant", content = $"The ship is the Pequod {i % 4}." },
            },
        })));

        string adapter = Path.Combine(work, "sft");
        Ok(SubstrateProcess.Run("finetune", "--method", "lora", "--model", model, "--data", chats, "--out", adapter, "--targets", "gate,w1,w2,w3",
            "--max-steps", "12", "--lr", "1e-2", "--threads", "1", "--set", "batch_size=4", "seq_len=64", "val_fraction=0"));
        var steps = Steps(adapter);
        Assert.True(steps[^1].Loss < 0.8 * steps[0].Loss, $"the LoRA loss did not fall: {string.Join(", ", steps.Select(s => s.Loss))}");
        Assert.All(steps, s => Assert.NotNull(s.RouterLoss));
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, "adapter_config.json"))))
            Assert.Equal(["gate", "w1", "w2", "w3"], config.RootElement.GetProperty("target_modules").EnumerateArray().Select(t => t.GetString()).Order());
        List<string> keys;
        using (var file = new SafetensorsReader(Path.Combine(adapter, "adapter_model.safetensors"))) keys = [.. file.Entries.Select(e => e.Name)];
        Assert.Contains("base_model.model.model.layers.0.block_sparse_moe.gate.lora_A.weight", keys);
        Assert.Contains("base_model.model.model.layers.1.block_sparse_moe.experts.7.w2.lora_B.weight", keys);

        string merged = Path.Combine(work, "merged");
        Ok(SubstrateProcess.Run("adapter", "merge", "--model", model, "--adapter", adapter, "--out", merged));
        string[] greedy = ["--prompt", "Name ship 2.", "--temperature", "0", "--max-tokens", "16"];
        var withAdapter = Ok(SubstrateProcess.Run([.. greedy, "--model", model, "--adapter", adapter], "generate")).Stdout;
        Assert.Equal(withAdapter, Ok(SubstrateProcess.Run([.. greedy, "--model", merged], "generate")).Stdout);
        var plain = Ok(SubstrateProcess.Run([.. greedy, "--model", model], "generate")).Stdout;
        Assert.NotEqual(plain, withAdapter);

        string full = Path.Combine(work, "full");
        Ok(SubstrateProcess.Run("finetune", "--method", "full", "--model", model, "--data", chats, "--out", full, "--max-steps", "3",
            "--threads", "1", "--set", "batch_size=4", "seq_len=64", "val_fraction=0"));
        Assert.All(Steps(full), s => Assert.True(double.IsFinite(s.Loss!.Value) && s.RouterLoss > 0));
        Assert.Equal(8, ModelFolder.ReadConfig(full).ExpertCount);
        Ok(SubstrateProcess.Run([.. greedy, "--model", full], "generate"));

        // serve runs the TorchSharp path (generate's fast CPU decoder may part from it on this barely trained model's near ties).
        string[] torch = [.. greedy, "--decoder", "torch", "--model", model];
        await ServeGivesWhatGenerateGives(model, adapter,
            [("moe", Ok(SubstrateProcess.Run(torch, "generate")).Stdout), ("moe:sft", Ok(SubstrateProcess.Run([.. torch, "--adapter", adapter], "generate")).Stdout)]);
    }

    /// <summary>serve on the batched TorchSharp path: six concurrent greedy requests, base and adapter mixed (the experts' rows
    /// each take their own token's adapter), each equal to <c>generate --decoder torch</c>'s text alone (stdout ends in a newline).</summary>
    async Task ServeGivesWhatGenerateGives(string model, string adapter, (string Model, string Text)[] expected)
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var serve = SubstrateProcess.Start(["--model", model, "--adapter", $"sft={adapter}", "--urls", $"http://127.0.0.1:{port}"], "serve");
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(3) };
            for (var wait = DateTime.UtcNow; ; await Task.Delay(250))
            {
                try { if ((await http.GetAsync("/health")).IsSuccessStatusCode) break; }
                catch (HttpRequestException) when (DateTime.UtcNow - wait < TimeSpan.FromMinutes(2)) { }
            }
            async Task<string> Complete(string name)
            {
                var body = new { model = name, prompt = "Name ship 2.", max_tokens = 16, temperature = 0 };
                var response = await http.PostAsJsonAsync("/v1/completions", body);
                response.EnsureSuccessStatusCode();
                return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("choices")[0].GetProperty("text").GetString()!;
            }
            var jobs = Enumerable.Range(0, 6).Select(i => expected[i % 2]).ToArray();
            var together = await Task.WhenAll(jobs.Select(j => Complete(j.Model)));
            Assert.Equal(jobs.Select(j => j.Text.TrimEnd('\n')), together);
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync();
        }
    }
}
