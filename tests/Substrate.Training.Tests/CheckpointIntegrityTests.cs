using System.Text.Json.Nodes;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

/// <summary>A checkpoint that changed after it was written is refused, never resumed from.</summary>
public class CheckpointIntegrityTests
{
    private const string StateFile = "trainer_state.json";

    /// <summary>A run folder with one complete checkpoint of a tiny model at step 3.</summary>
    private static string SavedRun(TempDirectory dir)
    {
        manual_seed(3);
        using var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = 32, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1, IntermediateSize = 32,
            MaxPositionEmbeddings = 16, TieWordEmbeddings = true,
        });
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new AdamWOptions());
        var run = dir.Combine("run");
        Directory.CreateDirectory(run);
        CheckpointFolder.Save(run, temp => ModelFolder.Save(model, temp), optimizer, 3, StateFile,
            new TrainerState { Step = 3, OptimizerSteps = 3 }.ToJson());
        return run;
    }

    /// <summary>What a run does with --resume: open the folder, verifying the checkpoint it continues from.</summary>
    private static RunFolder Resume(string run) => RunFolder.Open(run, StateFile, resume: true, "training");

    [Fact]
    public void An_untouched_checkpoint_is_found_and_lists_every_file()
    {
        using var dir = new TempDirectory();
        var run = SavedRun(dir);
        using (var resumed = Resume(run)) Assert.Equal(Path.Combine(run, "checkpoint"), resumed.Checkpoint);
        var checkpoint = CheckpointFolder.Find(run, StateFile);
        var listed = File.ReadAllLines(Path.Combine(checkpoint!, CheckpointFolder.ChecksumsFile)).Select(l => l.Split("  ")[1]);
        Assert.Equal([ModelFolder.ConfigFile, ModelFolder.GenerationConfigFile, ModelFolder.WeightsFile, CheckpointFolder.OptimizerFile],
            listed.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("optimizer.safetensors")]
    public void A_flipped_bit_is_found(string file)
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(SavedRun(dir), "checkpoint", file);
        var bytes = File.ReadAllBytes(path);
        bytes[^5] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Resume(Path.GetDirectoryName(Path.GetDirectoryName(path))!));
        Assert.Contains($"{file} does not match its SHA-256", e.Message);
    }

    [Theory]
    [InlineData(-5, "cannot be negative")]
    [InlineData(7, "says step 7 but optimizer.safetensors was saved at step 3")]
    public void A_step_that_is_negative_or_disagrees_with_the_optimizer_is_refused(int step, string reason)
    {
        using var dir = new TempDirectory();
        var run = SavedRun(dir);
        var path = Path.Combine(run, "checkpoint", StateFile);
        var state = JsonNode.Parse(File.ReadAllText(path))!;
        state["step"] = step;
        File.WriteAllText(path, state.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => Resume(run));
        Assert.Contains(reason, e.Message);
    }
}
