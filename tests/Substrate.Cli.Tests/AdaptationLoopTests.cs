using System.Text.Json;
using Substrate.Evaluation;

namespace Substrate.Cli.Tests;

/// <summary>
/// Adaptation through the <c>substrate</c> command on a tiny pretrained base and the bundled
/// instruction, preference and task files: LoRA finetune → generate with the adapter → merge (same
/// greedy output) → task evaluation → DPO. A few steps each; checks the plumbing, not quality.
/// </summary>
[Trait("Category", "Integration")]
public sealed class AdaptationLoopTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-adapt-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    static SubstrateProcess.Result Ok(SubstrateProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout:\n{result.Stdout}\nstderr:\n{result.Stderr}");
        return result;
    }

    /// <summary>A tiny base pretrained for a few steps on the corpus's validation split; returns its folder.</summary>
    string TinyBase(int steps)
    {
        string slice = Path.Combine(work, "slice.jsonl.gz");
        File.Copy(Path.Combine(Data, "corpus", "validation.jsonl.gz"), slice);
        string tok = Path.Combine(work, "tok"), shards = Path.Combine(work, "shards"), model = Path.Combine(work, "model");
        Ok(SubstrateProcess.Run("tokenizer", "train", "--input", slice, "--vocab-size", "512", "--out", tok));
        Ok(SubstrateProcess.Run("data", "prepare", "--input", slice, "--tokenizer", tok, "--out", shards, "--validation-every", "10"));
        Ok(SubstrateProcess.Run("pretrain", "--config", "tiny", "--data", shards, "--out", model, "--max-steps", $"{steps}", "--threads", "1",
            "--set", "batch_size=4", "seq_len=128", "max_position_embeddings=128", "dtype=float32"));
        return model;
    }

    static string Data => Path.GetDirectoryName(SubstrateProcess.CorpusFolder())!;

    [Fact]
    public void FinetuneMergeEvaluateAlign()
    {
        string data = Data, model = TinyBase(steps: 10);

        string adapter = Path.Combine(work, "adapter");
        Ok(SubstrateProcess.Run("finetune", "--method", "lora", "--model", model, "--data", Path.Combine(data, "instructions", "validation.jsonl.gz"),
            "--out", adapter, "--max-steps", "4", "--threads", "1", "--set", "batch_size=2", "seq_len=128"));
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, "adapter_config.json"))))
            Assert.Equal("LORA", config.RootElement.GetProperty("peft_type").GetString());
        Assert.True(File.Exists(Path.Combine(adapter, "adapter_model.safetensors")));

        // base + adapter and the merged model continue a prompt identically (greedy).
        string merged = Path.Combine(work, "merged");
        Ok(SubstrateProcess.Run("adapter", "merge", "--model", model, "--adapter", adapter, "--out", merged));
        string[] greedy = ["--prompt", "Define the word 'whale'.", "--temperature", "0", "--max-tokens", "12"];
        var withAdapter = Ok(SubstrateProcess.Run([.. greedy, "--model", model, "--adapter", adapter], "generate"));
        var fromMerged = Ok(SubstrateProcess.Run([.. greedy, "--model", merged], "generate"));
        Assert.Equal(withAdapter.Stdout, fromMerged.Stdout);

        var tasks = Ok(SubstrateProcess.Run("eval", "tasks", "--model", model, "--adapter", adapter, "--tasks", "cloze", "--limit", "4", "--shots", "1"));
        using (var line = JsonDocument.Parse(tasks.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[0]))
        {
            Assert.Equal("cloze", line.RootElement.GetProperty("task").GetString());
            Assert.InRange(line.RootElement.GetProperty("acc").GetDouble(), 0.0, 1.0);
        }

        string aligned = Path.Combine(work, "aligned");
        Ok(SubstrateProcess.Run("align", "dpo", "--model", merged, "--data", Path.Combine(data, "preferences", "train.jsonl.gz"), "--out", aligned,
            "--max-steps", "2", "--batch-size", "2", "--max-length", "128", "--threads", "1"));
        Assert.True(File.Exists(Path.Combine(aligned, "adapter_model.safetensors")));
    }

    /// <summary>quickstart --chat on an existing tiny base: a few seconds of instruction tuning, sample turns and the
    /// held-out accuracy; then substrate chat talks to the result in turns.</summary>
    [Fact]
    public void QuickstartChatStageMakesAChatModel()
    {
        string data = Data, model = TinyBase(steps: 4), quick = Path.Combine(work, "quick");

        var run = Ok(SubstrateProcess.Run("quickstart", "--chat", "--base", model, "--out", quick, "--chat-minutes", "0.05", "--chat-questions", "6",
            "--instructions", Path.Combine(data, "instructions")));
        string chat = Path.Combine(quick, "chat");
        Assert.True(File.Exists(Path.Combine(chat, "model.safetensors")) && File.Exists(Path.Combine(chat, "tokenizer_config.json")));
        Assert.Equal(3, run.Stdout.Split('\n').Count(l => l.StartsWith("model> ", StringComparison.Ordinal)));
        Assert.Contains("6 held-out \"which source\" questions", run.Stderr);

        var talk = Ok(SubstrateProcess.RunWithInput("Define the word 'whale'.\nWhich source does this passage come from?\n",
            "chat", "--model", chat, "--temperature", "0", "--max-tokens", "8"));
        Assert.Equal(2, talk.Stderr.Split("model>").Length - 1);

        // Bad input: one error line each.
        foreach (var args in new[]
        {
            new[] { "quickstart", "--chat", "--base", Path.Combine(work, "missing"), "--out", quick },
            new[] { "align", "dpo", "--model", model, "--data", Path.Combine(data, "preferences", "train.jsonl.gz"), "--out", Path.Combine(work, "none"), "--resume" },
        })
        {
            var bad = SubstrateProcess.Run(args);
            Assert.NotEqual(0, bad.ExitCode);
            Assert.StartsWith("error: ", Assert.Single(bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
    }

    /// <summary>adapt compare with the retrieval arm (BM25 over a small knowledge file): every way of adapting is a row;
    /// the retrieval rows read longer prompts than zero-shot, the fine-tuned rows report their training tokens.</summary>
    [Fact]
    public void AdaptCompareHasARetrievalRow()
    {
        string model = TinyBase(steps: 4), knowledge = Path.Combine(work, "glosses.txt");
        var task = EvalTask.Load("gloss");
        // The knowledge: each test item's headword with its gold gloss, as the corpus writes a gloss line.
        File.WriteAllLines(knowledge, task.Items.Select(i => i.Query + i.Choices![i.Gold]));
        var run = Ok(SubstrateProcess.Run("adapt", "compare", "--model", model, "--task", "gloss", "--out", Path.Combine(work, "compare"),
            "--knowledge", knowledge, "--shots", "1", "--max-steps", "2", "--threads", "1", "--set", "batch_size=2"));
        using var report = JsonDocument.Parse(run.Stdout);
        var results = report.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(["zero-shot", "few-shot", "rag", "rag+few-shot", "lora", "full"], results.Select(r => r.GetProperty("method").GetString()!));
        var rows = results.ToDictionary(r => r.GetProperty("method").GetString()!);
        double Prompt(string method) => rows[method].GetProperty("prompt_tokens").GetDouble();
        Assert.True(Prompt("rag") > Prompt("zero-shot") && Prompt("rag+few-shot") > Prompt("rag"), run.Stdout);
        Assert.Equal(0, rows["rag"].GetProperty("train_tokens").GetInt64());
        Assert.True(rows["lora"].GetProperty("train_tokens").GetInt64() > 0 && rows["full"].GetProperty("train_tokens").GetInt64() > 0, run.Stdout);
        Assert.All(rows.Values, r => Assert.True(r.GetProperty("query_ms").GetDouble() > 0));
        Assert.True(File.Exists(Path.Combine(work, "compare", "knowledge-bm25-64.db")));
    }

    [Fact]
    public void BadFinetuneInputGetsOneErrorLine()
    {
        var result = SubstrateProcess.Run("finetune", "--method", "lora", "--model", "/nonexistent/base", "--data", "/nonexistent/d.jsonl", "--out", Path.Combine(work, "x"), "--rank", "0");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
