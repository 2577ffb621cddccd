using System.CommandLine;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Cli.Tests;

/// <summary>--dtype auto (the default): inference verbs compute in the dtype the folder stores, training verbs in float32;
/// an explicit --dtype wins.</summary>
public class ModelOptionFlagsTests
{
    private static string Folder(ScalarType stored)
    {
        var dir = Directory.CreateTempSubdirectory("substrate-dtype-").FullName;
        using var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = 64, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1,
            IntermediateSize = 32, MaxPositionEmbeddings = 64, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        });
        ModelFolder.Save(model, dir, stored);
        return dir;
    }

    private static (ModelOptionFlags Flags, ParseResult Parsed) Parse(params string[] args)
    {
        var flags = new ModelOptionFlags();
        var command = new Command("generate");
        flags.AddTo(command);
        return (flags, command.Parse(args));
    }

    [Fact]
    public void Auto_computes_in_the_stored_dtype_and_an_explicit_dtype_wins()
    {
        var (bf16, fp32) = (Folder(ScalarType.BFloat16), Folder(ScalarType.Float32));
        try
        {
            var (flags, parsed) = Parse();
            var options = flags.StartInference(parsed, bf16);
            Assert.Equal(ScalarType.BFloat16, options.ComputeDtype);
            Assert.StartsWith("runtime: cpu, compute bfloat16 (auto: the weights' stored dtype), threads ", flags.Describe(parsed, options));
            Assert.Equal(ScalarType.Float32, flags.StartInference(parsed, fp32).ComputeDtype);
            Assert.Equal(ScalarType.Float32, flags.StartTraining(parsed).ComputeDtype); // training: fp32 master weights

            var (explicitFlags, explicitParsed) = Parse("--dtype", "float32");
            var chosen = explicitFlags.StartInference(explicitParsed, bf16);
            Assert.Equal(ScalarType.Float32, chosen.ComputeDtype);
            Assert.Contains("compute float32 (--dtype)", explicitFlags.Describe(explicitParsed, chosen));
            var (bf16Flags, bf16Parsed) = Parse("--dtype", "bf16");
            Assert.Equal(ScalarType.BFloat16, bf16Flags.StartInference(bf16Parsed, fp32).ComputeDtype);
        }
        finally
        {
            Directory.Delete(bf16, recursive: true);
            Directory.Delete(fp32, recursive: true);
        }
    }
}
