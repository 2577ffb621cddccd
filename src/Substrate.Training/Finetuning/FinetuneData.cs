using Substrate.Data.Instructions;
using Substrate.Models;
using Substrate.Tokenizers;
using static TorchSharp.torch;

using Substrate.Training.Distributed;

namespace Substrate.Training.Finetuning;

/// <summary>
/// A fine-tuning run's data: records → train/validation split → token ids with loss masks → packed rows, the batches of
/// every step, the run's length in steps and the fingerprint of the files it came from.
/// </summary>
public sealed record FinetuneData(
    int TrainRecords, int ValidationRecords, PackedRows TrainRows, PackedRows? ValidationRows, SupervisedBatches Batches,
    int MaxSteps, int PadId, string Fingerprint)
{
    /// <summary>Reads, splits, encodes and packs the data; <paramref name="world"/> picks this rank's rows of each global batch.</summary>
    public static FinetuneData Load(FinetuneOptions options, FinetuneConfig config, World? world = null)
    {
        world ??= World.Single;
        var tokenizer = TokenizerLoader.Load(options.ModelDirectory);
        var encoder = new SupervisedEncoder(tokenizer, TokenizerLoader.LoadConfig(options.ModelDirectory));
        var (trainRecords, validationRecords) = Split(InstructionFile.Read(options.DataPath), options.ValidationPath, config);
        int padId = tokenizer.Special.Pad ?? tokenizer.Special.Eos ?? 0;
        var trainRows = new PackedRows(trainRecords.Select(encoder.Encode), config.SeqLen, padId, config.Pack);
        var validationRows = validationRecords.Count > 0 ? new PackedRows(validationRecords.Select(encoder.Encode), config.SeqLen, padId, config.Pack) : null;
        if (trainRows.Count == 0)
            throw new InvalidDataException(trainRows.Dropped > 0
                ? $"{options.DataPath}: no trainable tokens: all {trainRows.Dropped:N0} examples end past seq_len={config.SeqLen} before "
                  + "their first target token (a long prompt or tool description); raise seq_len"
                : $"{options.DataPath}: no trainable tokens after encoding");
        var batches = new SupervisedBatches(trainRows, config.BatchSize, config.GradAccumSteps, config.Seed, world.Size, world.Rank);
        int maxSteps = config.MaxSteps > 0 ? config.MaxSteps : Math.Max(1, (int)Math.Ceiling(config.Epochs * batches.StepsPerEpoch));
        return new FinetuneData(trainRecords.Count, validationRecords.Count, trainRows, validationRows, batches, maxSteps, padId,
            RunFolder.Fingerprint(options.DataPath, options.ValidationPath));
    }

    public bool HasValidation => ValidationRows is { Count: > 0 };

    /// <summary>Mean masked loss per target token over every validation row, in batches of B (the last padded), no gradients.</summary>
    public double ValidationLoss(LlamaForCausalLM model, bool pack)
    {
        int B = Batches.BatchSize, T = Batches.SeqLen;
        var rows = ValidationRows!;
        var x = new long[B * T];
        var y = new long[B * T];
        var z = pack ? new long[B * T] : null;
        double sum = 0;
        long count = 0;
        model.eval();
        using (no_grad())
            for (int start = 0; start < rows.Count; start += B)
            {
                using var scope = NewDisposeScope();
                for (int b = 0; b < B; b++)
                    if (start + b < rows.Count) rows.Fill(start + b, x.AsSpan(b * T, T), y.AsSpan(b * T, T), z is null ? default : z.AsSpan(b * T, T));
                    else { Array.Fill(x, PadId, b * T, T); Array.Fill(y, PackedRows.Ignore, b * T, T); if (z is not null) Array.Fill(z, 0, b * T, T); }
                var logits = SupervisedBatches.Logits(model, x, z, B, T, model.Options.Device); // (B, T, V)
                var (lossSum, n) = SupervisedBatches.MaskedLoss(logits, y, model.Options.Device);
                sum += lossSum.item<float>();
                count += n;
            }
        model.train();
        return sum / Math.Max(1, count);
    }

    /// <summary>Held-out records: the validation file's, or the last val_fraction of a seeded shuffle of the data.</summary>
    static (List<InstructionRecord> Train, List<InstructionRecord> Validation) Split(
        List<InstructionRecord> records, string? validationPath, FinetuneConfig config)
    {
        if (validationPath is not null) return (records, InstructionFile.Read(validationPath));
        var shuffled = records.ToArray();
        new Random(unchecked((int)config.Seed)).Shuffle(shuffled);
        int held = records.Count < 2 ? 0 : Math.Min(records.Count - 1, (int)Math.Round(records.Count * config.ValFraction));
        return (shuffled[held..].ToList(), shuffled[..held].ToList());
    }
}
