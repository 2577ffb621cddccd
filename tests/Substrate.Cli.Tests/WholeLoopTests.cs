using System.Diagnostics;
using System.Text.Json;

namespace Substrate.Cli.Tests;

/// <summary>
/// The whole loop through the <c>substrate</c> command on a slice of the bundled corpus, with a
/// tiny model: tokenizer → shards → pretrain (killed with SIGKILL, resumed) → generate → perplexity
/// → GGUF export/import. Slower than unit tests (tens of seconds), so kept to one class.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WholeLoopTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("substrate-cli-").FullName;
    readonly string corpus;

    public WholeLoopTests()
    {
        // The corpus's validation split (~0.7 MB) under a neutral name: files called validation* are
        // taken as a validation split by 'data prepare'.
        corpus = Path.Combine(work, "slice.jsonl.gz");
        File.Copy(Path.Combine(SubstrateProcess.CorpusFolder(), "validation.jsonl.gz"), corpus);
    }

    public void Dispose() => Directory.Delete(work, recursive: true);

    static readonly string[] TinyRun = ["--config", "tiny", "--set", "batch_size=4", "seq_len=64", "max_position_embeddings=64",
        "eval_every=10", "checkpoint_every=5", "dtype=float32", "warmup_steps=5", "--threads", "1"];

    static SubstrateProcess.Result Ok(SubstrateProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout:\n{result.Stdout}\nstderr:\n{result.Stderr}");
        return result;
    }

    [Fact]
    public void TokenizerDataPretrainGenerateEvaluateExport()
    {
        string tok = Path.Combine(work, "tok"), data = Path.Combine(work, "data"), model = Path.Combine(work, "model");
        Ok(SubstrateProcess.Run("tokenizer", "train", "--input", corpus, "--vocab-size", "512", "--out", tok));
        Assert.True(File.Exists(Path.Combine(tok, "tokenizer.json")) && File.Exists(Path.Combine(tok, "tokenizer_config.json")));

        // encode prints exactly one JSON array; decode gives the text back.
        const string text = "Call me Ishmael.\r\n\tSome years ago — never mind how long 🐋 precisely…";
        var ids = JsonSerializer.Deserialize<int[]>(Ok(SubstrateProcess.Run("tokenizer", "encode", "--tokenizer", tok, "--text", text)).Stdout)!;
        Assert.NotEmpty(ids);
        Assert.Equal(text, Ok(SubstrateProcess.Run("tokenizer", "decode", "--tokenizer", tok, "--ids", JsonSerializer.Serialize(ids))).Stdout);

        Ok(SubstrateProcess.Run("data", "prepare", "--input", corpus, "--tokenizer", tok, "--out", data, "--validation-every", "10"));
        Ok(SubstrateProcess.Run([.. TinyRun, "--data", data, "--out", model, "--max-steps", "30"], "pretrain"));
        var losses = TrainLosses(model);
        Assert.Equal(30, losses.Count);
        Assert.True(losses[^5..].Average() < losses[..5].Average() - 0.3, $"loss did not fall: {string.Join(", ", losses)}");

        // Greedy generation is deterministic and stdout holds only the generated text.
        var first = Ok(SubstrateProcess.Run("generate", "--model", model, "--prompt", "The whale", "--temperature", "0", "--max-tokens", "12"));
        var second = Ok(SubstrateProcess.Run("generate", "--model", model, "--prompt", "The whale", "--temperature", "0", "--max-tokens", "12"));
        Assert.Equal(first.Stdout, second.Stdout);
        Assert.DoesNotContain("tok/s", first.Stdout);
        Assert.Contains("tok/s", first.Stderr);
        Assert.Contains("generate: settings: greedy (temperature 0), repetition_penalty 1, max_tokens 12", first.Stderr);

        var perplexity = JsonDocument.Parse(Ok(SubstrateProcess.Run("eval", "perplexity", "--model", model, "--data", data)).Stdout).RootElement;
        double ppl = perplexity.GetProperty("perplexity").GetDouble();
        Assert.InRange(ppl, 1.0, 512.0); // better than uniform over the vocabulary

        // GGUF out and back in: the imported folder generates the same greedy tokens.
        string gguf = Path.Combine(work, "model.gguf"), imported = Path.Combine(work, "imported");
        Ok(SubstrateProcess.Run("export", "gguf", "--model", model, "--out", gguf, "--type", "f32"));
        Assert.Contains("gguf", Ok(SubstrateProcess.Run("info", "--model", gguf)).Stdout);
        Ok(SubstrateProcess.Run("import", "gguf", "--in", gguf, "--out", imported));
        var again = Ok(SubstrateProcess.Run("generate", "--model", imported, "--prompt", "The whale", "--temperature", "0", "--max-tokens", "12"));
        Assert.Equal(first.Stdout, again.Stdout);

        // Quantized (from the folder and from the GGUF alike) and imported back: it still generates.
        string q8 = Path.Combine(work, "q8.gguf"), q8Again = Path.Combine(work, "q8-again.gguf");
        Ok(SubstrateProcess.Run("quantize", "--model", model, "--out", q8, "--type", "q8_0"));
        Ok(SubstrateProcess.Run("quantize", "--model", gguf, "--out", q8Again, "--type", "q8_0"));
        Ok(SubstrateProcess.Run("import", "gguf", "--in", q8, "--out", Path.Combine(work, "q8")));
        Assert.NotEmpty(Ok(SubstrateProcess.Run("generate", "--model", Path.Combine(work, "q8"), "--prompt", "The whale", "--max-tokens", "4")).Stdout);

        // A .gguf runs as it is, on the CPU decoder: the f32 file gives the folder's greedy tokens; the Q8_0 one runs its blocks in place.
        var fromFile = Ok(SubstrateProcess.Run("generate", "--model", gguf, "--prompt", "The whale", "--temperature", "0", "--max-tokens", "12"));
        Assert.Equal(first.Stdout, fromFile.Stdout);
        var fromQ8 = Ok(SubstrateProcess.Run("generate", "--model", q8, "--prompt", "The whale", "--temperature", "0", "--max-tokens", "12"));
        Assert.Contains("quantized blocks in place", fromQ8.Stderr);
        Assert.NotEqual("", fromQ8.Stdout.Trim());
    }

    [Fact]
    public void RunKilledWithSigkillResumesToTheSameLosses()
    {
        string tok = Path.Combine(work, "tok"), data = Path.Combine(work, "data");
        Ok(SubstrateProcess.Run("tokenizer", "train", "--input", corpus, "--vocab-size", "512", "--out", tok));
        Ok(SubstrateProcess.Run("data", "prepare", "--input", corpus, "--tokenizer", tok, "--out", data, "--validation-every", "10"));

        string straight = Path.Combine(work, "straight"), killed = Path.Combine(work, "killed");
        Ok(SubstrateProcess.Run([.. TinyRun, "--data", data, "--out", straight, "--max-steps", "40"], "pretrain"));

        // Start the same run, kill it without warning once it has checkpointed past step 10, resume.
        var process = SubstrateProcess.Start([.. TinyRun, "--data", data, "--out", killed, "--max-steps", "40"], "pretrain");
        var clock = Stopwatch.StartNew();
        while (CheckpointStep(killed) < 10 && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(20);
        if (!process.HasExited) process.Kill(entireProcessTree: true); // SIGKILL
        process.WaitForExit();
        Assert.InRange(CheckpointStep(killed), 10, 40);
        Ok(SubstrateProcess.Run([.. TinyRun, "--data", data, "--out", killed, "--max-steps", "40", "--resume"], "pretrain"));

        Assert.Equal(TrainLosses(straight), TrainLosses(killed));
    }

    static int CheckpointStep(string run)
    {
        var state = Path.Combine(run, "checkpoint", "trainer_state.json");
        try { return File.Exists(state) ? JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("step").GetInt32() : 0; }
        catch (Exception e) when (e is IOException or JsonException) { return 0; }
    }

    static List<double> TrainLosses(string run) => File.ReadLines(Path.Combine(run, "metrics.jsonl"))
        .Select(line => JsonDocument.Parse(line).RootElement)
        .Where(e => e.TryGetProperty("loss", out _))
        .Select(e => e.GetProperty("loss").GetDouble())
        .ToList();
}
