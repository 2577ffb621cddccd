using Substrate.Training.Alignment;
using Substrate.Training.Finetuning;
using Substrate.Models;

namespace Substrate.Training.Tests;

public class ConfigResolverTests
{
    [Fact]
    public void OverridesSetModelAndTrainingKeys()
    {
        var config = ConfigResolver.Resolve("tiny", ["hidden_size=256", "lr=3e-4", "batch_size=8", "tie_word_embeddings=false", "dtype=float32"]);
        Assert.Equal(256, config.Model.HiddenSize);
        Assert.False(config.Model.TieWordEmbeddings);
        Assert.Equal(ModelPresets.Get("tiny").NumHiddenLayers, config.Model.NumHiddenLayers);
        Assert.Equal(3e-4, config.Train.Lr);
        Assert.Equal(8, config.Train.BatchSize);
        Assert.Equal(ComputePrecision.Float32, config.Train.Dtype);
    }

    [Fact]
    public void UnknownKeyIsAnErrorNamingIt()
    {
        var error = Assert.Throws<ArgumentException>(() => ConfigResolver.Resolve("tiny", ["hiden_size=256"]));
        Assert.Contains("unknown key 'hiden_size'", error.Message);
        Assert.Contains("hidden_size", error.Message); // the known keys are listed
    }

    [Theory]
    [InlineData("hidden_size=abc", "'hidden_size' must be an integer")]
    [InlineData("hidden_size=2.5", "'hidden_size' must be an integer")]
    [InlineData("lr=fast", "'lr' must be a number")]
    [InlineData("tie_word_embeddings=maybe", "'tie_word_embeddings' must be true or false")]
    [InlineData("lr", "expected key=value")]
    [InlineData("dtype=float16", "dtype must be")]
    [InlineData("min_lr=1", "min_lr must lie in")]
    public void WrongTypeOrValueIsAnError(string assignment, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => ConfigResolver.Resolve("tiny", [assignment]));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void FileOverlaysItsPresetAndOverridesOverlayTheFile()
    {
        using var dir = new TempDirectory();
        var file = dir.Combine("run.json");
        File.WriteAllText(file, """{"preset": "tiny", "hidden_size": 64, "lr": 0.002, "warmup_steps": 7, "transformers_version": "4.46"}""");
        var config = ConfigResolver.Resolve(file, ["lr=0.003"]);
        Assert.Equal(64, config.Model.HiddenSize);
        Assert.Equal(ModelPresets.Get("tiny").IntermediateSize, config.Model.IntermediateSize);
        Assert.Equal(0.003, config.Train.Lr);
        Assert.Equal(7, config.Train.WarmupSteps);

        File.WriteAllText(file, """{"preset": "tiny", "hidden_size": "big"}""");
        Assert.Contains("'hidden_size' must be an integer", Assert.Throws<ArgumentException>(() => ConfigResolver.Resolve(file, [])).Message);
        File.WriteAllText(file, """{"preset": "tiny", "hiddensize": 3}""");
        Assert.Contains("unknown key 'hiddensize'", Assert.Throws<ArgumentException>(() => ConfigResolver.Resolve(file, [])).Message);
    }

    [Fact]
    public void VocabDefaultsToTheDataAndMayNotBeSmaller()
    {
        Assert.Equal(257, ConfigResolver.Resolve("tiny", [], dataVocabSize: 257).Model.VocabSize);
        Assert.Equal(512, ConfigResolver.Resolve("tiny", ["vocab_size=512"], dataVocabSize: 257).Model.VocabSize);
        var error = Assert.Throws<ArgumentException>(() => ConfigResolver.Resolve("tiny", ["vocab_size=100"], dataVocabSize: 257));
        Assert.Contains("vocab_size 100 is smaller than the data's vocabulary (257", error.Message);
    }

    [Fact]
    public void ResumeMayChangeTrainingKeysButNotTheModel()
    {
        var saved = ConfigResolver.Resolve("tiny", []);
        Assert.Equal(50, ConfigResolver.ResolveResume(saved, ["eval_every=50"]).Train.EvalEvery);
        Assert.Contains("cannot change", Assert.Throws<ArgumentException>(() => ConfigResolver.ResolveResume(saved, ["hidden_size=8"])).Message);
        Assert.Equal(saved.Model, ConfigResolver.ResolveResume(saved, [$"hidden_size={saved.Model.HiddenSize}", "lr=0.5"]).Model); // the original command line again
    }

    [Fact]
    public void AResumedFinetuneMaySplitItsBatchAnotherWayButNotChangeTheRun()
    {
        var saved = new FinetuneConfig { BatchSize = 2, SeqLen = 64, Lr = 1e-3 };
        Assert.Equal(saved, saved.Resumed([]));
        Assert.Equal(saved with { BatchSize = 4, GradAccumSteps = 2 }, saved.Resumed(["batch_size=4", "grad_accum_steps=2", "seq_len=64", "lr=1e-3"]));
        var error = Assert.Throws<ArgumentException>(() => saved.Resumed(["batch_size=4", "lr=0.5", "seq_len=128"])).Message;
        Assert.Contains("seq_len: 64 → 128; lr: 0.001 → 0.5", error);
        Assert.Contains("only batch_size and grad_accum_steps (to keep the global batch under another rank count) and gradient_checkpointing", error);
        Assert.Equal(saved with { GradientCheckpointing = true }, saved.Resumed(["gradient_checkpointing=true"]));
    }

    [Fact]
    public void UnknownPresetIsAnError() =>
        Assert.Contains("unknown model preset", Assert.Throws<ArgumentException>(() => ConfigResolver.Resolve("huge", [])).Message);

    [Fact]
    public void AssignmentsBecomeATypedRecordOfAnyRecipe()
    {
        var finetune = ConfigResolver.Apply(new FinetuneConfig(), ["dtype=float32", "attention=eager", "lr=3e-4", "pack=false"]);
        Assert.Equal(new FinetuneConfig { Dtype = ComputePrecision.Float32, Attention = AttentionImplementation.Eager, Lr = 3e-4, Pack = false }, finetune);
        Assert.Contains("dtype must be one of \"float32\", \"bfloat16\"",
            Assert.Throws<ArgumentException>(() => ConfigResolver.Apply(new FinetuneConfig(), ["dtype=float16"])).Message);
        Assert.Contains("unknown key 'nope'", Assert.Throws<ArgumentException>(() => ConfigResolver.Apply(new FinetuneConfig(), ["nope=1"])).Message);

        var dpo = ConfigResolver.Apply(new DpoOptions { ModelDirectory = "m", DataPath = "d", OutputDirectory = "o" }, ["beta2=0.99", "weight_decay=0.01"]);
        Assert.Equal(new AdamWOptions(0.9, 0.99, 1e-8, 0.01), dpo.AdamW);
        Assert.Equal(("m", "d", "o"), (dpo.ModelDirectory, dpo.DataPath, dpo.OutputDirectory));
        Assert.Contains("\"beta2\": 0.99", dpo.ToJson());
        Assert.Contains("\"dtype\": \"float32\"", dpo.ToJson());
    }
}
