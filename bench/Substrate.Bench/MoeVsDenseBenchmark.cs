using System.Diagnostics;
using System.Text.Json;
using Substrate.Data;
using Substrate.Inference.CpuDecode;
using Substrate.Models;
using Substrate.Recipes;
using Substrate.Tokenizers.Training;
using Substrate.Training;
using static TorchSharp.torch;

namespace Substrate.Bench;

/// <summary>
/// <c>moe-vs-dense</c>: the seed's claim measured. "tiny" (dense) and "tiny-moe" (8 experts of half the width, top-2: the same
/// active MLP) pretrained by the one recipe on the bundled corpus for the same steps of the same batches — the same training
/// FLOPs up to the router's E·H per layer — then per model: validation loss, training tokens/s, total and active parameters,
/// batch-1 decode tokens/s on the fast CPU decoder, and for the mixture the tokens each expert got on validation text.
/// Writes <c>moe-vs-dense.png</c> (validation loss against training FLOPs, both models) to SUBSTRATE_BENCH_OUT (default: the
/// work folder). SUBSTRATE_BENCH_STEPS (default 300) sets the steps, SUBSTRATE_BENCH_BATCH / SUBSTRATE_BENCH_SEQ (default 8 × 128)
/// the batch; SUBSTRATE_BENCH_MINUTES (default 8) caps each run (a capped run compares on the FLOPs axis, not at the end);
/// SUBSTRATE_BENCH_PRESETS (default tiny,tiny-moe) runs only some of the models.
/// </summary>
public static class MoeVsDenseBenchmark
{
    const int VocabSize = 2048;
    static readonly int Batch = Env("SUBSTRATE_BENCH_BATCH", 8), SeqLen = Env("SUBSTRATE_BENCH_SEQ", 128);

    static int Env(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) && v > 0 ? v : fallback;

    public static void Run()
    {
        int steps = Env("SUBSTRATE_BENCH_STEPS", 300);
        double minutes = double.TryParse(Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_MINUTES"), out var m) ? m : 8;
        var work = Path.Combine(Path.GetTempPath(), "substrate-moe-vs-dense");
        var outDir = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_OUT") ?? work;
        Directory.CreateDirectory(outDir);
        var dataDir = Prepare(work);
        var curves = new List<(string Name, double[] Flops, double[] Loss)>();
        var presets = Environment.GetEnvironmentVariable("SUBSTRATE_BENCH_PRESETS")?.Split(',') ?? ["tiny", "tiny-moe"];
        foreach (var preset in presets)
        {
            var config = ModelPresets.Get(preset) with { VocabSize = VocabSize };
            var modelDir = Path.Combine(work, preset);
            if (Directory.Exists(modelDir)) Directory.Delete(modelDir, recursive: true);
            var train = new TrainConfig
            {
                BatchSize = Batch, SeqLen = SeqLen, MaxSteps = steps, WarmupSteps = steps / 10, EvalEvery = Math.Max(10, steps / 10),
                EvalBatches = 8, CheckpointEvery = steps,
            };
            Console.Error.WriteLine($"moe-vs-dense: pretraining {preset} for {steps} steps of {Batch}×{SeqLen}…");
            var clock = Stopwatch.StartNew();
            var result = Pretrainer.Run(new PretrainOptions
            {
                DataDirectory = dataDir, OutputDirectory = modelDir, Resolved = new PretrainConfig(config, train),
                TimeLimit = TimeSpan.FromMinutes(minutes),
            });
            var seconds = clock.Elapsed.TotalSeconds;
            var flopsPerToken = ModelFlops.TrainingFlopsPerToken(config, SeqLen);
            var validation = MetricsLog.Read(Path.Combine(modelDir, MetricsLog.FileName)).Where(r => r.ValidationLoss is not null).ToList();
            curves.Add((preset, validation.Select(r => r.Step * train.TokensPerStep * flopsPerToken).ToArray(),
                validation.Select(r => r.ValidationLoss!.Value).ToArray()));
            using var model = ModelFolder.Load(modelDir);
            Print(new
            {
                bench = "moe_vs_dense", model = preset, steps = result.Step, tokens = result.TokensSeen,
                training_flops = result.TokensSeen * flopsPerToken, val_loss = result.FinalValidationLoss,
                train_tokens_per_s = result.TokensSeen / seconds, total_params = model.ParameterCount(), active_params = ModelFlops.Parameters(config),
                decode_tokens_per_s = DecodeTokensPerSecond(model), experts_tokens = ExpertUtilisation(model, dataDir),
                threads = get_num_threads(), loadavg_1m = TrainBenchmark.LoadAverage(),
            });
        }
        WritePlot(curves, Path.Combine(outDir, "moe-vs-dense.png"));
        Console.Error.WriteLine($"moe-vs-dense: plot → {Path.Combine(outDir, "moe-vs-dense.png")}");
    }

    /// <summary>A 2,048-token BPE of the bundled corpus and its token shards, made once in <paramref name="work"/>.</summary>
    static string Prepare(string work)
    {
        var (tokenizerDir, dataDir) = (Path.Combine(work, "tokenizer"), Path.Combine(work, "data"));
        if (File.Exists(Path.Combine(dataDir, "meta.json"))) return dataDir;
        var corpus = BundledCorpus.Find();
        Console.Error.WriteLine("moe-vs-dense: training the tokenizer and preparing the bundled corpus…");
        BpeCorpusTraining.Run([Path.Combine(corpus, BundledCorpus.TrainFile)], new BpeTrainerOptions { VocabSize = VocabSize },
            tokenizerDir);
        DataPreparer.Prepare(tokenizerDir, new DataPrepareOptions { Inputs = [corpus], OutputDirectory = dataDir, ValidationEvery = 100 });
        return dataDir;
    }

    /// <summary>Batch-1 greedy steps on the fast CPU decoder: tokens per second over 128 positions after a warm-up.</summary>
    static double DecodeTokensPerSecond(LlamaForCausalLM model)
    {
        using var decoder = new CpuDecoder(model);
        var logits = new float[model.Config.VocabSize];
        for (int i = 0; i < 8; i++) decoder.Step(i + 1, logits);
        decoder.Reset();
        var clock = Stopwatch.StartNew();
        var token = 1;
        for (int i = 0; i < 128; i++)
        {
            decoder.Step(token, logits);
            token = Array.IndexOf(logits, logits.Max());
        }
        return 128 / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Tokens routed to each expert, per sparse layer, over 8×128 validation tokens; null for a dense model.</summary>
    static long[][]? ExpertUtilisation(LlamaForCausalLM model, string dataDir)
    {
        if (model.Router is null) return null;
        using var validation = TokenDataset.Open(dataDir, DataPreparer.ValidationSplit);
        var tokens = validation.ReadAll().Take(Batch * SeqLen).ToArray();
        model.Router.RecordWithoutGradients = true;
        using (no_grad())
        using (var ids = tensor(tokens, [tokens.Length / SeqLen, SeqLen]))
        using (model.forward(ids)) { }
        return model.TokensPerExpert();
    }

    /// <summary>Validation loss against training FLOPs, one line per model (ScottPlot, as <see cref="LossPlot"/>).</summary>
    static void WritePlot(List<(string Name, double[] Flops, double[] Loss)> curves, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, flops, loss) in curves)
        {
            var line = plot.Add.ScatterLine(flops.Select(f => f / 1e12).ToArray(), loss);
            line.LegendText = name;
            line.MarkerSize = 6;
        }
        plot.Title("Mixture of experts vs dense, same active parameters");
        plot.XLabel("training compute (TFLOP)");
        plot.YLabel("validation cross-entropy (nats/token)");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
    }

    static void Print(object value) => Console.WriteLine(JsonSerializer.Serialize(value));
}
