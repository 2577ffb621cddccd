using System.CommandLine;
using Substrate.Models;
using Substrate.Nn;
using TorchSharp;

namespace Substrate.Cli;

/// <summary>The runtime flags every verb that runs a model takes: --device, --dtype, --threads.</summary>
public sealed class ModelOptionFlags
{
    public readonly Option<string> Device = new("--device") { Description = "cpu, cuda, cuda:1.", DefaultValueFactory = _ => "cpu" };
    public readonly Option<string> Dtype = new("--dtype")
    {
        Description = "Compute dtype: float32 or bfloat16 (training keeps fp32 master weights; inference keeps the stored dtype).",
        DefaultValueFactory = _ => "float32",
    };
    public readonly Option<int> Threads = new("--threads") { Description = "libtorch threads (0: one per core)." };

    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(Dtype);
        command.Options.Add(Threads);
    }

    /// <summary>Applies the process runtime the flags ask for (<see cref="ProcessRuntime"/>: --threads, freed memory kept for
    /// reuse) and returns the model options; verbs call it once, as they start.</summary>
    public ModelOptions Start(ParseResult parsed)
    {
        ProcessRuntime.Configure(new RuntimeSettings(parsed.GetValue(Threads)));
        var dtype = parsed.GetValue(Dtype) switch
        {
            "float32" or "fp32" => torch.ScalarType.Float32,
            "bfloat16" or "bf16" => torch.ScalarType.BFloat16,
            var other => throw new ArgumentException($"--dtype must be float32 or bfloat16, got '{other}'"),
        };
        return new ModelOptions { Device = torch.device(parsed.GetValue(Device)!), ComputeDtype = dtype };
    }
}
