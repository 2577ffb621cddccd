namespace Substrate.Cli.Tests;

/// <summary>Bad input gets one clear error line on stderr and a non-zero exit.</summary>
public class BadInputTests
{
    [Theory]
    [InlineData("unknown verb", new[] { "frobnicate" })]
    [InlineData("missing required option", new[] { "tokenizer", "encode", "--text", "x" })]
    [InlineData("missing tokenizer", new[] { "tokenizer", "encode", "--tokenizer", "/nonexistent/tok", "--text", "x" })]
    [InlineData("vocab below bytes + specials", new[] { "tokenizer", "train", "--input", "/nonexistent", "--vocab-size", "100", "--out", "/tmp/never" })]
    [InlineData("unknown pre-tokenizer", new[] { "tokenizer", "train", "--input", "/nonexistent", "--pattern", "bert", "--out", "/tmp/never" })]
    [InlineData("unreadable corpus", new[] { "tokenizer", "train", "--input", "/nonexistent/corpus.txt", "--out", "/tmp/never" })]
    [InlineData("missing model", new[] { "generate", "--model", "/nonexistent/model", "--prompt", "x" })]
    [InlineData("unknown decoder", new[] { "generate", "--model", "/nonexistent/model", "--prompt", "x", "--decoder", "gpu" })]
    [InlineData("missing data", new[] { "pretrain", "--data", "/nonexistent/data", "--out", "/tmp/never" })]
    [InlineData("bad duration", new[] { "pretrain", "--data", "/nonexistent/data", "--out", "/tmp/never", "--time-limit", "soon" })]
    [InlineData("missing gguf", new[] { "info", "--model", "/nonexistent/x.gguf" })]
    [InlineData("bad quant type", new[] { "export", "gguf", "--model", "/tmp", "--out", "/tmp/never.gguf", "--type", "q3_z" })]
    [InlineData("quantize: bad type", new[] { "quantize", "--model", "/tmp", "--out", "/tmp/never.gguf", "--type", "iq4_xs" })]
    [InlineData("generate: missing gguf", new[] { "generate", "--model", "/nonexistent/model.gguf", "--prompt", "x" })]
    [InlineData("generate: adapter on a gguf", new[] { "generate", "--model", "/tmp/never.gguf", "--adapter", "/tmp", "--prompt", "x" })]
    [InlineData("quantize: missing model", new[] { "quantize", "--model", "/nonexistent/model", "--out", "/tmp/never.gguf" })]
    [InlineData("serve: missing model", new[] { "serve", "--model", "/nonexistent/model", "--urls", "http://127.0.0.1:0" })]
    [InlineData("serve: adapter not name=dir", new[] { "serve", "--model", "/tmp", "--adapter", "support" })]
    [InlineData("serve: adapter on a gguf", new[] { "serve", "--model", "/tmp/never.gguf", "--adapter", "a=/tmp", "--urls", "http://127.0.0.1:0" })]
    [InlineData("serve: missing gguf", new[] { "serve", "--model", "/nonexistent/model.gguf", "--urls", "http://127.0.0.1:0" })]
    [InlineData("chat: missing gguf", new[] { "chat", "--model", "/nonexistent/model.gguf" })]
    [InlineData("chat: adapter on a gguf", new[] { "chat", "--model", "/tmp/never.gguf", "--adapter", "/tmp" })]
    [InlineData("rag search: missing store", new[] { "rag", "search", "--store", "/nonexistent/docs.db", "query" })]
    [InlineData("rag index: missing docs", new[] { "rag", "index", "--docs", "/nonexistent/docs", "--store", "/nonexistent/never.db" })]
    [InlineData("rag search: bad mode", new[] { "rag", "search", "--store", "/nonexistent/docs.db", "query", "--mode", "fuzzy" })]
    [InlineData("agent: no model", new[] { "agent", "goal" })]
    [InlineData("agent: unknown tool", new[] { "agent", "--endpoint", "http://127.0.0.1:9/v1", "--model-name", "m", "--tools", "shell", "goal" })]
    [InlineData("agent: bad trace", new[] { "agent", "--endpoint", "http://127.0.0.1:9/v1", "--model-name", "m", "--trace", "jaeger", "goal" })]
    [InlineData("mcp: missing model", new[] { "mcp", "--model", "/nonexistent/model" })]
    [InlineData("generate: threads above ggml's limit", new[] { "generate", "--model", "/tmp", "--prompt", "x", "--threads", "20000" })]
    [InlineData("pretrain: negative threads", new[] { "pretrain", "--data", "/tmp", "--out", "/tmp/never", "--threads", "-1" })]
    [InlineData("adapt compare: bad --rag", new[] { "adapt", "compare", "--model", "/nonexistent/model", "--task", "gloss", "--rag", "dense" })]
    [InlineData("adapt compare: missing knowledge", new[] { "adapt", "compare", "--model", "/tmp", "--task", "gloss", "--knowledge", "/nonexistent/k" })]
    public void FailsWithOneErrorLine(string why, string[] args)
    {
        var result = SubstrateProcess.Run(args);
        Assert.True(result.ExitCode != 0, $"{why}: exit code 0");
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{why}: expected one stderr line, got:\n{result.Stderr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void MalformedTokenizerJsonIsNamed()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-tokenizer-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
        try
        {
            var result = SubstrateProcess.Run("tokenizer", "encode", "--tokenizer", file, "--text", "x");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains(file, result.Stderr);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void DecodeRejectsIdsOutsideTheVocabulary()
    {
        var result = SubstrateProcess.Run("tokenizer", "decode", "--tokenizer", "/nonexistent", "--ids", "[1]");
        Assert.NotEqual(0, result.ExitCode);
    }
}
